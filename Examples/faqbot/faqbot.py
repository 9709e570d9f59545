#!/usr/bin/env python3
"""faqbot: a small FAQ bot for Switchboard live chat.

The bot logs in to Switchboard's IRC server with a bot account
(`switchboard operator add faqbot --name "FAQ bot" --bot --password-stdin`).
A live chat channel that names it in the config (`bot = "faqbot"`) sends
its new conversations to the bot first. For each conversation the server
joins the bot to the conversation's channel (`#website-17`). The bot then:

  * greets the visitor once;
  * answers the questions its FAQ table knows (opening hours, shipping);
  * hands the conversation to a human (`PRIVMSG LiveChat :FORWARD #website-17`)
    when the visitor asks for a human, agent or person, or after two
    questions it could not answer;
  * says goodbye and closes the conversation (`CLOSE`) when the visitor only
    says "bye";
  * leaves the channel when the visitor closes the conversation.

History replay: when the server joins the bot to a conversation it sends what
the visitor has written so far. These lines are told apart from new messages
by the chathistory batch they come in (with `batch`), by their `time` tag being
older than the bot's JOIN (with `server-time`), or by their `[HH:MM] ` prefix
(without `server-time`). The bot does not answer every replayed line: it
reads the replay to the end and then answers only the visitor's latest
message, and only if nobody (the bot itself or an operator) answered it
already. It greets only new conversations: not when its greeting is in the
replay, and not the conversations the server joins it to again right after it
connects (the account had them before; see on_001).

Only the Python 3 standard library is used. See docs/bots.md for the
protocol and a walk-through of this file.

Examples:

    # the development server on this machine (plaintext, loopback only)
    FAQBOT_PASSWORD=secret python3 Examples/faqbot/faqbot.py --no-tls --port 6667

    # over TLS, accepting the self-signed development certificate
    FAQBOT_PASSWORD=secret python3 Examples/faqbot/faqbot.py --host chat.example.com --insecure
"""

import argparse
import base64
import logging
import os
import random
import re
import signal
import socket
import ssl
import sys
import time
from datetime import datetime, timezone

log = logging.getLogger("faqbot")

# --------------------------------------------------------------------------
# What the bot says
# --------------------------------------------------------------------------

GREETING = ("Hi! I'm the FAQ bot. Ask me about opening hours or shipping, "
            "or type 'human' to talk to a person.")
FORWARDING = "Let me find a colleague for you."
NOT_UNDERSTOOD = ("Sorry, I don't know the answer to that one. I can tell you about "
                  "opening hours or shipping, or type 'human' to talk to a person.")
GOODBYE = "Thank you for chatting with us. Goodbye!"
SMALL_TALK_REPLY = ("You're welcome! Ask me about opening hours or shipping, "
                    "or type 'human' to talk to a person.")

# The FAQ: each entry is (keywords, answer). A visitor's message gets the
# answer of every entry one of whose keywords it contains as a whole word.
FAQ = [
    ({"hours", "hour", "open", "opening", "opened", "closed", "closing"},
     "We are open Monday to Friday, 9:00 to 18:00, and Saturday 10:00 to 14:00 (Central European Time)."),
    ({"shipping", "ship", "ships", "shipped", "shipment", "delivery", "deliver", "delivers", "delivered", "deliveries"},
     "Shipping is free from 50 EUR; orders ship within one business day and delivery takes 2 to 4 business days."),
]

# Any of these words hands the conversation to a human at once.
HUMAN_WORDS = {"human", "humans", "agent", "agents", "person", "operator"}

# Small talk: a message made only of these words is not a question. With
# "bye" or "goodbye" in it, it ends the conversation.
SMALL_TALK = {"hi", "hello", "hey", "good", "morning", "afternoon", "evening", "thanks", "thank",
              "you", "ok", "okay", "cheers", "great", "bye", "goodbye", "so", "much"}
GOODBYE_WORDS = {"bye", "goodbye"}

# After this many questions without an answer, the bot forwards.
MAX_UNANSWERED = 2

# The capabilities the bot asks for when the server offers them.
#   sasl             log in with SASL PLAIN
#   message-tags     receive tags (msgid, bot, batch, label...)
#   server-time      `time` tags: tells replayed lines from new ones
#   standard-replies FAIL/NOTE LIVECHAT <CODE> next to LiveChat's PRIVMSGs
#   account-tag      `account` tags: operators are logged in, visitors are not
#   batch            replayed history comes in a `chathistory` batch
#   labeled-response the replies to our FORWARD/CLOSE carry our label
WANTED_CAPS = ["sasl", "message-tags", "server-time", "standard-replies",
               "account-tag", "batch", "labeled-response"]

SERVICE = "LiveChat"

# A conversation channel: `#<live chat channel name>-<conversation id>`.
CONVERSATION_CHANNEL = re.compile(r"^#.+-(\d+)$")
# The prefix of a replayed line when server-time is not negotiated.
REPLAY_PREFIX = re.compile(r"^\[\d\d:\d\d\] ")
# How long after the end of NAMES (366) replayed lines may still arrive when
# they do not come in a batch.
SETTLE_SECONDS = 0.5


# --------------------------------------------------------------------------
# IRC lines
# --------------------------------------------------------------------------

class Message:
    """One IRC line: `@tags :source COMMAND params... :trailing`."""

    def __init__(self, tags, source, command, params):
        self.tags = tags          # dict; a tag without value maps to ""
        self.source = source      # "nick!user@host", "server.name" or None
        self.command = command    # upper-cased: "PRIVMSG", "001"...
        self.params = params      # list of str; the trailing one included

    @property
    def nick(self):
        return (self.source or "").split("!", 1)[0]

    def __repr__(self):
        return f"Message({self.tags!r}, {self.source!r}, {self.command!r}, {self.params!r})"


TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def unescape_tag(value):
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            out.append(TAG_ESCAPES.get(value[i + 1], value[i + 1]))
            i += 2
        elif value[i] == "\\":
            i += 1                      # a lone trailing backslash is dropped
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse_line(line):
    """Parses one line (without CR LF); returns a Message or None."""
    tags, source = {}, None
    if line.startswith("@"):
        raw, _, line = line[1:].partition(" ")
        for item in raw.split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = unescape_tag(value)
        line = line.lstrip(" ")
    if line.startswith(":"):
        source, _, line = line[1:].partition(" ")
        line = line.lstrip(" ")
    head, separator, trailing = line.partition(" :")
    params = head.split()
    if separator:
        params.append(trailing)
    if not params:
        return None
    command = params.pop(0).upper()
    return Message(tags, source, command, params)


def parse_server_time(value):
    """`2024-05-01T12:00:00.123Z` -> aware datetime, or None."""
    if not value:
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return None


def words_of(text):
    """The lower-case words of a message: "What are your opening hours?" -> [what, are, ...]."""
    return re.findall(r"[a-z0-9']+", text.lower())


# --------------------------------------------------------------------------
# The state of one conversation
# --------------------------------------------------------------------------

class Conversation:
    """What the bot remembers about one conversation channel."""

    def __init__(self, channel, number):
        self.channel = channel          # "#website-17"
        self.number = number            # "17"
        self.joined = True              # False while reconnecting, until the server joins us again
        self.joined_at = None           # server time of our JOIN (datetime), when server-time is on
        self.settling = True            # True until the replay that follows the JOIN is over
        self.settle_deadline = None     # monotonic time at which the replay is taken as over
        self.greeted = False
        self.pending = None             # the latest replayed visitor message nobody answered
        self.unanswered = 0             # questions the FAQ could not answer
        self.handed_over = False        # FORWARD or CLOSE sent: stay quiet

    def is_visitor(self, message, my_nick):
        """The visitor pseudo-user: `Anna-17!visitor@visitor.<server>`. Operators and
        bots are logged in (an `account` tag, with account-tag); the visitor is not,
        and their nick ends with the conversation's number."""
        if message.nick.lower() == my_nick.lower() or "account" in message.tags:
            return False
        return re.search(r"-%s_*$" % re.escape(self.number), message.nick) is not None


# --------------------------------------------------------------------------
# The bot
# --------------------------------------------------------------------------

class Disconnected(Exception):
    """The connection is over; the bot connects again after a pause."""


class LoginFailed(Exception):
    """The server refused the credentials: trying again would not help."""


class FAQBot:
    def __init__(self, options):
        self.options = options
        self.sock = None
        self.buffer = b""
        self.stopping = False
        self.exit_status = 0
        self.conversations = {}         # lower-cased channel -> Conversation; kept across reconnects
        self.parent = os.getppid()      # for --exit-with-parent
        self.reset_connection_state()

    def reset_connection_state(self):
        self.nick = self.options.nick
        self.registered = False
        self.offered = {}               # capability -> value, from CAP LS
        self.enabled = set()            # capabilities the server acknowledged
        self.batches = {}               # open batch reference -> (type, params, label)
        self.labels = {}                # our label -> (command, channel)
        self.next_label = 0
        self.connected_at = time.monotonic()
        self.registered_at = None
        self.in_welcome_burst = True    # until the PONG of the PING sent at 001
        self.use_sasl = False
        self.last_received = time.monotonic()
        self.ping_sent_at = None

    # ---- sending ----------------------------------------------------------

    def send(self, line, secret=False):
        """Sends one line; CR and LF inside it are dropped so nothing can inject a command."""
        line = line.replace("\r", " ").replace("\n", " ")
        log.debug(">> %s", line.split(" ", 1)[0] + " <hidden>" if secret else line)
        try:
            self.sock.sendall(line.encode("utf-8") + b"\r\n")
        except OSError as error:
            raise Disconnected(f"send failed: {error}")

    def say(self, channel, text):
        self.send(f"PRIVMSG {channel} :{text}")

    def service_command(self, command, channel, rest=""):
        """`PRIVMSG LiveChat :FORWARD #website-17`, labeled when labeled-response is on so
        that an error (FAIL LIVECHAT ...) can be matched to the conversation."""
        text = f"{command} {channel}" + (f" {rest}" if rest else "")
        if "labeled-response" in self.enabled:
            self.next_label += 1
            label = f"faq{self.next_label}"
            self.labels[label] = (command, channel)
            self.send(f"@label={label} PRIVMSG {SERVICE} :{text}")
        else:
            self.send(f"PRIVMSG {SERVICE} :{text}")

    # ---- connecting ------------------------------------------------------

    def connect(self):
        o = self.options
        log.info("connecting to %s:%d (%s)", o.host, o.port, "TLS" if o.tls else "plaintext")
        raw = socket.create_connection((o.host, o.port), timeout=10)
        if o.tls:
            context = ssl.create_default_context()
            if o.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            raw = context.wrap_socket(raw, server_hostname=o.host)
        # Short reads: the main loop wakes up twice a second for timers and signals.
        raw.settimeout(0.5)
        self.sock = raw
        self.buffer = b""
        self.reset_connection_state()
        # Registration: CAP LS first; the rest follows in on_cap().
        self.send("CAP LS 302")

    def disconnect(self, quit_message=None):
        if self.sock is None:
            return
        if quit_message:
            try:
                self.send(f"QUIT :{quit_message}")
            except Disconnected:
                pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.sock = None
        for conversation in self.conversations.values():
            conversation.joined = False

    def run(self):
        """Connects, serves, and reconnects with exponential backoff until stopped."""
        backoff = 1.0
        while not self.stopping:
            self.registered_at = None
            try:
                self.connect()
                self.serve()
            except (OSError, Disconnected) as error:
                log.warning("disconnected: %s", error)
            except LoginFailed as error:
                log.error("%s; check --login and the password", error)
                self.exit_status = 1
                self.stopping = True
            finally:
                self.disconnect("Shutting down" if self.stopping else None)
            if self.stopping:
                break
            if self.registered_at is not None and time.monotonic() - self.registered_at > 60:
                backoff = 1.0           # the connection was good for a while: start over
            delay = backoff * random.uniform(0.8, 1.2)
            log.info("reconnecting in %.1f s", delay)
            self.sleep(delay)
            backoff = min(backoff * 2, 60.0)
        log.info("stopped")

    def sleep(self, seconds):
        """Sleeps in small steps so that SIGTERM/SIGINT end the wait at once."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            self.check_parent()
            time.sleep(min(0.2, deadline - time.monotonic()))

    def check_parent(self):
        """With --exit-with-parent: stop when the process that started us is gone
        (we were re-parented), so that a killed supervisor or test runner leaves no bot behind."""
        if self.options.exit_with_parent and os.getppid() != self.parent and not self.stopping:
            log.info("the parent process is gone; quitting")
            self.stopping = True

    def serve(self):
        """Reads lines and dispatches them until the connection ends or we are stopped."""
        while not self.stopping:
            self.run_timers()
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            if not data:
                raise Disconnected("the server closed the connection")
            self.last_received = time.monotonic()
            self.ping_sent_at = None
            self.buffer += data
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
                if not line:
                    continue
                log.debug("<< %s", line)
                message = parse_line(line)
                if message is not None:
                    self.dispatch(message)

    def run_timers(self):
        self.check_parent()
        now = time.monotonic()
        if not self.registered and now - self.connected_at > 30:
            raise Disconnected("registration took too long")
        # Keepalive: a silent connection may be dead.
        if self.ping_sent_at is None and now - self.last_received > 120:
            self.send("PING :faqbot-keepalive")
            self.ping_sent_at = now
        elif self.ping_sent_at is not None and now - self.ping_sent_at > 60:
            raise Disconnected("no answer to PING")
        # Replays that did not come in a batch are over after a short quiet time.
        for conversation in list(self.conversations.values()):
            if (conversation.joined and conversation.settling and conversation.settle_deadline is not None
                    and now >= conversation.settle_deadline):
                self.settle(conversation)
        # Conversations the server did not join us to again after a reconnect have ended.
        if self.registered_at is not None and now - self.registered_at > 60:
            for key, conversation in list(self.conversations.items()):
                if not conversation.joined:
                    del self.conversations[key]

    # ---- dispatching -----------------------------------------------------

    def dispatch(self, message):
        handler = getattr(self, "on_" + message.command.lower(), None)
        if handler is not None:
            handler(message)
        # A reply that carries our label itself is the whole answer to that command.
        if "label" in message.tags and message.command != "BATCH":
            self.labels.pop(message.tags["label"], None)

    def on_ping(self, message):
        self.send("PONG :" + (message.params[-1] if message.params else ""))

    def on_error(self, message):
        raise Disconnected("server error: " + " ".join(message.params))

    # Registration -------------------------------------------------------

    def on_cap(self, message):
        if len(message.params) < 2:
            return
        sub = message.params[1].upper()
        if sub == "LS":
            # `CAP * LS * :caps...` has more lines to come; the last one has no `*`.
            more = len(message.params) > 3 and message.params[2] == "*"
            for item in message.params[-1].split():
                name, _, value = item.partition("=")
                self.offered[name] = value
            if not more:
                self.request_caps()
        elif sub == "ACK" and not self.registered:
            self.enabled.update(c.lstrip("-") for c in message.params[-1].split() if not c.startswith("-"))
            log.info("capabilities: %s", " ".join(sorted(self.enabled)))
            if "sasl" in self.enabled and self.use_sasl:
                self.send("AUTHENTICATE PLAIN")
            else:
                self.send("CAP END")
        elif sub == "NAK" and not self.registered:
            log.warning("capabilities refused: %s", message.params[-1])
            if self.use_sasl:
                log.error("the server refused SASL; try --no-sasl")
            self.send("CAP END")

    def request_caps(self):
        o = self.options
        sasl_offered = "sasl" in self.offered and (
            not self.offered["sasl"] or "PLAIN" in self.offered["sasl"].upper().split(","))
        self.use_sasl = not o.no_sasl and sasl_offered
        if not o.no_sasl and not sasl_offered:
            log.warning("the server does not offer SASL PLAIN here; logging in with PASS")
        if not self.use_sasl:
            # PASS must come before NICK/USER.
            self.send(f"PASS {o.login}:{o.password}", secret=True)
        self.send(f"NICK {self.nick}")
        self.send(f"USER {o.login} 0 * :{o.realname}")
        wanted = [c for c in WANTED_CAPS if c in self.offered and (c != "sasl" or self.use_sasl)]
        if wanted:
            self.send("CAP REQ :" + " ".join(wanted))
        else:
            self.send("CAP END")

    def on_authenticate(self, message):
        if message.params and message.params[0] == "+":
            o = self.options
            payload = base64.b64encode(f"\0{o.login}\0{o.password}".encode("utf-8")).decode("ascii")
            # Payloads are sent in 400-byte pieces; a piece of exactly 400 is followed by "+".
            for start in range(0, len(payload), 400):
                self.send("AUTHENTICATE " + payload[start:start + 400], secret=True)
            if len(payload) % 400 == 0:
                self.send("AUTHENTICATE +")

    def on_903(self, message):          # RPL_SASLSUCCESS
        log.info("logged in as %s", self.options.login)
        self.send("CAP END")

    def login_failed(self, message):
        raise LoginFailed("login failed: " + message.params[-1])

    # 904 SASL failed, 902 account unavailable, 464 bad PASS. (905/906: a SASL
    # message too long or aborted, which this bot does not cause.)
    on_902 = on_904 = on_464 = login_failed

    def on_433(self, message):          # ERR_NICKNAMEINUSE
        if not self.registered:
            self.nick += "_"
            log.info("nick in use; trying %s", self.nick)
            self.send(f"NICK {self.nick}")

    def on_001(self, message):          # RPL_WELCOME
        self.registered = True
        self.registered_at = time.monotonic()
        self.nick = message.params[0]
        log.info("registered as %s; waiting for conversations", self.nick)
        # When a bot connects, the server joins it again to the conversations it
        # still has, right after the welcome. The PONG to this PING comes after
        # all of those JOINs: a JOIN before it is a conversation we already greeted
        # (perhaps from an earlier run of this program, which remembers nothing).
        self.send("PING :faqbot-welcome")

    def on_pong(self, message):
        if message.params and message.params[-1] == "faqbot-welcome":
            self.in_welcome_burst = False

    def on_nick(self, message):
        if message.nick.lower() == self.nick.lower():
            self.nick = message.params[0]

    # Batches and standard replies -----------------------------------------

    def on_batch(self, message):
        if not message.params:
            return
        reference = message.params[0]
        if reference.startswith("+"):
            kind = message.params[1] if len(message.params) > 1 else ""
            self.batches[reference[1:]] = (kind, message.params[2:], self.label_of(message))
        elif reference.startswith("-"):
            kind, params, label = self.batches.pop(reference[1:], ("", [], None))
            self.labels.pop(label, None)
            if kind == "chathistory" and params:
                conversation = self.conversations.get(params[0].lower())
                if conversation is not None and conversation.settling:
                    self.settle(conversation)

    def label_of(self, message):
        """The label of a reply: its own tag, or its labeled-response batch's."""
        if "label" in message.tags:
            return message.tags["label"]
        batch = self.batches.get(message.tags.get("batch", ""))
        return batch[2] if batch else None

    def on_fail(self, message):
        # FAIL LIVECHAT <CODE> [context...] :description
        log.warning("FAIL %s", " ".join(message.params))
        label = self.label_of(message)
        if label in self.labels and len(message.params) >= 2 and message.params[0] == "LIVECHAT":
            command, channel = self.labels.pop(label)
            conversation = self.conversations.get(channel.lower())
            if conversation is not None and conversation.joined and command == "FORWARD":
                # The hand-over did not happen: stay with the visitor.
                conversation.handed_over = False
                self.say(channel, "Sorry, I could not reach a colleague just now. "
                                  "Please try again in a moment, or ask me about opening hours or shipping.")

    def on_note(self, message):
        log.info("NOTE %s", " ".join(message.params))

    def on_ack(self, message):
        self.labels.pop(message.tags.get("label"), None)

    # Channels -------------------------------------------------------------

    def on_join(self, message):
        if not message.params or message.nick.lower() != self.nick.lower():
            return
        channel = message.params[0]
        match = CONVERSATION_CHANNEL.match(channel)
        if not match:
            log.info("joined %s, which is not a conversation; ignoring it", channel)
            return
        key = channel.lower()
        conversation = self.conversations.get(key)
        if conversation is not None and not conversation.joined:
            # Joined again after a reconnect: keep what we knew (greeted, counts).
            conversation.joined = True
            conversation.settling = True
            conversation.handed_over = False
            log.info("back in conversation %s", channel)
        else:
            conversation = Conversation(channel, match.group(1))
            self.conversations[key] = conversation
            if self.in_welcome_burst:
                # Joined right after the welcome: a conversation this account already
                # had (perhaps from an earlier run of this program); it was greeted then.
                conversation.greeted = True
                log.info("back in conversation %s (from before this connection)", channel)
            else:
                log.info("new conversation %s", channel)
        conversation.joined_at = parse_server_time(message.tags.get("time"))
        # TOPIC, NAMES and the replay follow; 366 (end of NAMES) shortens this.
        conversation.settle_deadline = time.monotonic() + 2 * SETTLE_SECONDS + 1

    def on_366(self, message):          # RPL_ENDOFNAMES: the replay, if any, follows now
        if len(message.params) >= 2:
            conversation = self.conversations.get(message.params[1].lower())
            if conversation is not None and conversation.settling:
                conversation.settle_deadline = time.monotonic() + SETTLE_SECONDS

    def on_part(self, message):
        if not message.params:
            return
        key = message.params[0].lower()
        conversation = self.conversations.get(key)
        if conversation is None:
            return
        if message.nick.lower() == self.nick.lower():
            reason = message.params[1] if len(message.params) > 1 else ""
            log.info("left %s%s", conversation.channel, f" ({reason})" if reason else "")
            del self.conversations[key]
        elif conversation.is_visitor(message, self.nick) and not conversation.handed_over:
            # The visitor closed the conversation; we were its operator, so leaving ends it.
            log.info("the visitor left %s; leaving too", conversation.channel)
            conversation.handed_over = True
            self.send(f"PART {conversation.channel} :The visitor left")

    def on_kick(self, message):
        if len(message.params) >= 2 and message.params[1].lower() == self.nick.lower():
            self.conversations.pop(message.params[0].lower(), None)

    # Messages ---------------------------------------------------------------

    def on_privmsg(self, message):
        if len(message.params) < 2:
            return
        target, text = message.params[0], message.params[1]
        if target.lower() == self.nick.lower():
            # A private message: LiveChat's answers (FORWARD, CLOSE...) or a person.
            log.info("<%s> %s", message.nick, text)
            return
        conversation = self.conversations.get(target.lower())
        if conversation is None:
            return
        if conversation.settling and self.is_replay(message, conversation):
            self.replayed(conversation, message, text)
            return
        if not conversation.is_visitor(message, self.nick):
            return                      # an operator invited in, or our own line
        if conversation.settling:
            self.settle(conversation)   # a new message ends the replay
        self.answer(conversation, text)

    def is_replay(self, message, conversation):
        batch = self.batches.get(message.tags.get("batch", ""))
        if batch and batch[0] == "chathistory":
            return True
        sent_at = parse_server_time(message.tags.get("time"))
        if sent_at is not None and conversation.joined_at is not None:
            return sent_at < conversation.joined_at
        return "server-time" not in self.enabled and REPLAY_PREFIX.match(message.params[1]) is not None

    def replayed(self, conversation, message, text):
        """Reads one replayed line: remembers the latest unanswered visitor message."""
        if "server-time" not in self.enabled:
            text = REPLAY_PREFIX.sub("", text, count=1)
        conversation.settle_deadline = time.monotonic() + SETTLE_SECONDS
        if conversation.is_visitor(message, self.nick):
            conversation.pending = text
        else:
            # Our own earlier lines (the replay shows them under our current nick,
            # without tags) or an operator's: whatever was asked before is answered.
            if text == GREETING:
                conversation.greeted = True
            conversation.pending = None

    def settle(self, conversation):
        """The replay is over: greet (once) and answer the latest unanswered question."""
        conversation.settling = False
        conversation.settle_deadline = None
        if not conversation.greeted:
            conversation.greeted = True
            self.say(conversation.channel, GREETING)
        if conversation.pending is not None:
            text, conversation.pending = conversation.pending, None
            self.answer(conversation, text)

    # ---- the FAQ logic -----------------------------------------------------

    def answer(self, conversation, text):
        if conversation.handed_over:
            return
        words = words_of(text)
        channel = conversation.channel
        if HUMAN_WORDS.intersection(words):
            self.forward(conversation, "the visitor asked for a person")
            return
        if words and set(words) <= SMALL_TALK:
            if GOODBYE_WORDS.intersection(words):
                self.say(channel, GOODBYE)
                conversation.handed_over = True
                self.service_command("CLOSE", channel, "The visitor said goodbye to the FAQ bot")
            else:
                self.say(channel, SMALL_TALK_REPLY)
            return
        answers = [reply for keywords, reply in FAQ if keywords.intersection(words)]
        if answers:
            for reply in answers:
                self.say(channel, reply)
            return
        conversation.unanswered += 1
        if conversation.unanswered >= MAX_UNANSWERED:
            self.forward(conversation, f"{conversation.unanswered} questions without an answer")
        else:
            self.say(channel, NOT_UNDERSTOOD)

    def forward(self, conversation, why):
        log.info("forwarding %s to a human (%s)", conversation.channel, why)
        conversation.handed_over = True
        self.say(conversation.channel, FORWARDING)
        # The server parts us from the channel and assigns the conversation to an
        # available operator, who gets the whole transcript.
        self.service_command("FORWARD", conversation.channel)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def parse_options(argv=None):
    parser = argparse.ArgumentParser(
        description="A FAQ bot for Switchboard live chat conversations.",
        epilog="The password may also be given in the FAQBOT_PASSWORD environment variable.")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="server port (default: 6697 with TLS, 6667 without)")
    parser.add_argument("--tls", dest="tls", action="store_true", default=True, help="connect with TLS (the default)")
    parser.add_argument("--no-tls", dest="tls", action="store_false",
                        help="plaintext; Switchboard accepts it from loopback only")
    parser.add_argument("--insecure", action="store_true",
                        help="do not verify the server's certificate (for the self-signed development certificate)")
    parser.add_argument("--login", default="faqbot", help="the bot account's login (default: faqbot)")
    parser.add_argument("--password", default=os.environ.get("FAQBOT_PASSWORD"),
                        help="the bot account's password (default: $FAQBOT_PASSWORD)")
    parser.add_argument("--nick", help="the nick to use (default: the login)")
    parser.add_argument("--realname", default="FAQ bot", help="the real name shown in WHOIS")
    parser.add_argument("--no-sasl", action="store_true", help="log in with PASS login:password instead of SASL PLAIN")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="quit when the process that started the bot exits (for supervisors and tests)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every IRC line (passwords hidden)")
    options = parser.parse_args(argv)
    if not options.password:
        parser.error("no password: use --password or set FAQBOT_PASSWORD")
    if options.port is None:
        options.port = 6697 if options.tls else 6667
    if options.nick is None:
        options.nick = options.login
    return options


def main(argv=None):
    options = parse_options(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if options.verbose else logging.INFO,
                        format="%(asctime)s faqbot %(levelname)s %(message)s")
    bot = FAQBot(options)

    def stop(signum, frame):
        log.info("%s received; quitting", signal.Signals(signum).name)
        bot.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A parent process (a supervisor, a test runner) may have started us with these
    # signals blocked; a blocked SIGTERM would never reach the handler.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    bot.run()
    return bot.exit_status


if __name__ == "__main__":
    sys.exit(main())
