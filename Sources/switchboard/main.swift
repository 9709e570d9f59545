// The `switchboard` executable: everything lives in SwitchboardApp, so that
// tests can drive the same code.
import SwitchboardApp

await SwitchboardCommand.run(arguments: nil)
