// The `switchboard` executable: everything lives in SwitchboardApp, so that
// tests can drive the same code.
#if canImport(Glibc)
import Glibc
#endif
import SwitchboardApp

// A parent may have started us with SIGTERM/SIGINT blocked (children inherit the
// signal mask, e.g. from a Swift concurrency thread); graceful shutdown needs them.
var shutdownSignals = sigset_t()
sigemptyset(&shutdownSignals)
sigaddset(&shutdownSignals, SIGTERM)
sigaddset(&shutdownSignals, SIGINT)
sigprocmask(SIG_UNBLOCK, &shutdownSignals, nil)

await SwitchboardCommand.run(arguments: nil)
