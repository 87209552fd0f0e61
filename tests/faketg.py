"""In-process fake Telegram server for tests.

Telethon's high-level code (``iter_messages``, ``get_entity``, ``get_messages``,
``takeout`` ...) runs unmodified against :class:`FakeTelegram`: the fake replaces
only the client's network sender (``client._sender``).  Requests therefore still
go through ``TelegramClient._call``, so Telethon's own flood-wait handling,
retry logic and entity caching behave exactly as they do against Telegram.

Every request is serialised to bytes and parsed back (like the wire would do),
so the fake works on its own copy and every response is a fresh object.

Quick start::

    fake = FakeTelegram()
    chan = fake.add_channel("somenews", "Some News")          # + discussion group
    post = fake.post(chan, "hello", views=10)
    fake.comment(chan, post.id, "first!", from_user=fake.add_user("Ann"))

    async def main():
        async with fake.client() as client:
            async for m in client.iter_messages("somenews"):
                ...

    asyncio.run(main())

Login (Telethon's own ``send_code_request``/``sign_in``/``start``/``log_out`` run
against it; the code and the 2FA password step are remembered per auth key by the
fake, so a login can be split over clients sharing one session string)::

    fake.register_account("+1 555 123 4567", password="hunter2")  # now logged out
    async with fake.client() as client:
        sent = await client.send_code_request("+15551234567")
        try:
            await client.sign_in("+15551234567", fake.last_code,
                                 phone_code_hash=sent.phone_code_hash)
        except errors.SessionPasswordNeededError:
            await client.sign_in(password="hunter2")      # real SRP check

Dialogs: chats the account joined (``add_channel(..., joined=True)`` is the default,
discussion groups are not joined; see :meth:`FakeTelegram.join`/``leave``) are
listed by ``client.get_dialogs()``, which also fills the session's entity cache.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import random
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Union
from unittest import mock

from telethon import TelegramClient, errors, utils
from telethon.client import telegrambaseclient
from telethon.crypto import AuthKey
from telethon.extensions import BinaryReader, html, markdown
from telethon.sessions import Session, StringSession
from telethon.tl import TLObject, TLRequest, functions, types

__all__ = [
    "Call",
    "ChatState",
    "FakeSender",
    "FakeTelegram",
    "FakeTelegramClient",
    "Fault",
    "reactions",
    "rpc_error",
]

UTC = dt.UTC
DEFAULT_API_ID = 12345
DEFAULT_API_HASH = "0123456789abcdef0123456789abcdef"
MAX_LIMIT = 100  # Telegram silently caps history pages at 100 messages
DEFAULT_LIMIT = 20  # "when 0 is provided the limit will often default to ~20"
_USERNAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{3,30}[a-zA-Z0-9]$")
_CHANNEL_MARK = 1_000_000_000_000
_PHONE_RE = re.compile(r"^[0-9]{5,15}$")
_API_HASH_RE = re.compile(r"^[0-9a-f]{32}$")
DEFAULT_LOGIN_CODE = "12345"
ARCHIVE_FOLDER = 1  # peer folder 1 is "Archived chats"

# Telegram's 2048-bit SRP safe prime (https://core.telegram.org/api/srp), used with g=3.
# Telethon only accepts exactly this prime without factorising it.
SRP_PRIME = bytes.fromhex(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B"
)
SRP_G = 3

# Wrappers that only change how a query is executed, never what it returns.
_TRANSPARENT_WRAPPERS = (
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeAfterMsgRequest,
    functions.InvokeAfterMsgsRequest,
    functions.InvokeWithMessagesRangeRequest,
)

# What an auth key that is not logged in may still call (Telegram answers anything else
# with 401 AUTH_KEY_UNREGISTERED, or SESSION_PASSWORD_NEEDED halfway through a 2FA login).
_NO_AUTH_REQUESTS = (
    functions.help.GetConfigRequest,
    functions.auth.SendCodeRequest,
    functions.auth.ResendCodeRequest,
    functions.auth.CancelCodeRequest,
    functions.auth.SignInRequest,
    functions.auth.CheckPasswordRequest,  # the handlers check the 2FA step themselves
    functions.account.GetPasswordRequest,
)

ChatLike = Union["ChatState", types.Channel, types.Chat, types.ChannelForbidden, int, str]
UserLike = types.User | int | str
ErrorSpec = BaseException | type | str | Callable[[TLRequest], BaseException]


# --------------------------------------------------------------------------- helpers


def _marked(peer: Any) -> int:
    """Bot-API style id for Peer/entity objects (cheaper than utils.get_peer_id)."""
    if isinstance(peer, (types.PeerChannel, types.InputPeerChannel, types.InputChannel)):
        return -(_CHANNEL_MARK + peer.channel_id)
    if isinstance(peer, (types.PeerChat, types.InputPeerChat)):
        return -peer.chat_id
    if isinstance(peer, (types.PeerUser, types.InputPeerUser, types.InputUser)):
        return peer.user_id
    return utils.get_peer_id(peer)


def _clone(obj: Any) -> Any:
    """Serialise + parse, like the wire: callers never share objects with the world."""
    if isinstance(obj, list):
        return [_clone(x) for x in obj]
    if isinstance(obj, TLObject):
        return BinaryReader(bytes(obj)).tgread_object()
    return obj


def _timestamp(value: dt.datetime | int | None) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return int(value)


def rpc_error(
    message: str, request: TLRequest | None = None, code: int | None = None
) -> errors.RPCError:
    """Build the exception Telethon would raise for an RPC error string, e.g.
    ``rpc_error("FLOOD_WAIT_30")`` -> ``FloodWaitError`` with ``seconds == 30``."""
    if code is None:
        if message.startswith(("FLOOD_WAIT_", "FLOOD_PREMIUM_WAIT_", "SLOWMODE_WAIT_")):
            code = 420
        elif message.startswith(("AUTH_KEY_", "SESSION_", "USER_DEACTIVATED")):
            code = 401
        elif message.startswith(("INTERNAL", "RPC_CALL_FAIL", "TIMEOUT")):
            code = 500
        else:
            code = 400
    return errors.rpc_message_to_error(types.RpcError(code, message), request)


def _make_error(spec: ErrorSpec, request: TLRequest) -> BaseException:
    if isinstance(spec, BaseException):
        if isinstance(spec, errors.RPCError) and getattr(spec, "request", None) is None:
            spec.request = request
        return spec
    if isinstance(spec, str):
        return rpc_error(spec, request)
    if isinstance(spec, type) and issubclass(spec, BaseException):
        if issubclass(spec, errors.RPCError):
            try:
                return spec(request=request)
            except TypeError:  # base classes want message/code too
                return spec(request=request, message=spec.__name__, code=400)
        return spec()
    if callable(spec):
        return spec(request)
    raise TypeError(f"cannot turn {spec!r} into an exception")


# --------------------------------------------------------------------------- SRP (2FA)
# The server side of https://core.telegram.org/api/srp, written independently of
# telethon/password.py (which is the client side the tests run against it).


def _sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def _pad256(n: int) -> bytes:
    return n.to_bytes(256, "big")


def _srp_x(password: str, salt1: bytes, salt2: bytes) -> int:
    """x = PH2(password, salt1, salt2)."""
    ph1 = _sha256(salt2, _sha256(salt1, password.encode(), salt1), salt2)
    return int.from_bytes(
        _sha256(salt2, hashlib.pbkdf2_hmac("sha512", ph1, salt1, 100_000), salt2), "big"
    )


def _srp_good(n: int) -> bool:
    """Telegram's range check for g^a / g^b: both n and p - n at least 2^1984."""
    p = int.from_bytes(SRP_PRIME, "big")
    return 0 < n < p and n.bit_length() >= 1984 and (p - n).bit_length() >= 1984


@dataclasses.dataclass
class _Password:
    """A 2FA password as the server stores it: salts and verifier v = g^x mod p."""

    salt1: bytes
    salt2: bytes
    v: int
    hint: str | None
    srp_id: int | None = None  # the current (srp_id, b, B) handed out by account.getPassword
    b: int = 0
    B: int = 0

    @property
    def algo(self) -> types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow:
        return types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
            salt1=self.salt1, salt2=self.salt2, g=SRP_G, p=SRP_PRIME
        )

    def check(self, A_bytes: bytes, M1: bytes) -> bool:
        """Verify the client's proof M1 for its public value A."""
        p = int.from_bytes(SRP_PRIME, "big")
        A = int.from_bytes(A_bytes, "big")
        if not _srp_good(A):
            return False
        u = int.from_bytes(_sha256(_pad256(A), _pad256(self.B)), "big")
        if u == 0:
            return False
        S = pow(A * pow(self.v, u, p) % p, self.b, p)
        K = _sha256(_pad256(S))
        hp, hg = _sha256(SRP_PRIME), _sha256(_pad256(SRP_G))
        expected = _sha256(
            bytes(x ^ y for x, y in zip(hp, hg, strict=True)),
            _sha256(self.salt1),
            _sha256(self.salt2),
            _pad256(A),
            _pad256(self.B),
            K,
        )
        return hmac.compare_digest(expected, M1)


@dataclasses.dataclass
class _LoginCode:
    """A code sent by auth.sendCode; valid only for the same phone and auth key."""

    phone: str
    code: str
    auth_key_id: int | None
    expired: bool = False


def _normalize_phone(phone: str | int) -> str:
    return re.sub(r"[+()\s-]", "", str(phone))


def reactions(
    counts: dict[Any, int] | None = None, *, chosen: Iterable[Any] = ()
) -> types.MessageReactions | None:
    """``reactions({"👍": 5, 5368324170671202286: 2, "paid": 1})``: str -> emoji,
    int -> custom emoji document id, ``"paid"`` -> star reaction."""
    if not counts:
        return None
    chosen = list(chosen)
    results = []
    for key, count in counts.items():
        if key == "paid":
            reaction: Any = types.ReactionPaid()
        elif isinstance(key, int):
            reaction = types.ReactionCustomEmoji(document_id=key)
        else:
            reaction = types.ReactionEmoji(emoticon=key)
        order = chosen.index(key) if key in chosen else None
        results.append(types.ReactionCount(reaction=reaction, count=count, chosen_order=order))
    return types.MessageReactions(results=results, can_see_list=False)


_make_reactions = reactions  # builder params named "reactions" shadow the function
_UNSET: Any = object()


def _parse_text(
    text: str, entities: list | None, parse_mode: str | None
) -> tuple[str, list | None]:
    if parse_mode is None:
        return text, entities or None
    parser = {"md": markdown, "markdown": markdown, "html": html}[parse_mode.lower()]
    text, parsed = parser.parse(text)
    return text, (list(entities or []) + parsed) or None


def _thread_top(msg: Any) -> int:
    """Thread id of a message in a group: replies to replies stay in the same thread."""
    r = msg.reply_to
    if isinstance(r, types.MessageReplyHeader):
        return r.reply_to_top_id or r.reply_to_msg_id or msg.id
    return msg.id


# --------------------------------------------------------------------------- state


@dataclasses.dataclass(eq=False)
class ChatState:
    """A chat held by the fake: broadcast channel, megagroup or basic group."""

    kind: str  # "channel" (broadcast) | "megagroup" | "chat" (basic group)
    id: int
    access_hash: int
    title: str
    username: str | None
    date: dt.datetime
    about: str = ""
    forum: bool = False
    signatures: bool = False
    participants_count: int = 0
    linked_chat_id: int | None = None
    private: bool = False  # -> CHANNEL_PRIVATE on reads, ChannelForbidden entity
    left: bool = False  # not a member: no dialog, entity has the "left" flag
    folder_id: int | None = None  # dialog folder: None = main list, 1 = archive
    dialog_pin: int | None = None  # pinned dialogs: higher = pinned later = shown first
    pts: int = 1
    pinned_msg_id: int | None = None
    # Messages: ascending ids + id -> stored (live) message object.
    ids: list[int] = dataclasses.field(default_factory=list)
    msgs: dict[int, Any] = dataclasses.field(default_factory=dict)
    next_id: int = 1
    # Thread top message id -> ascending ids of every message in that thread.
    threads: dict[int, list[int]] = dataclasses.field(default_factory=dict)
    # Broadcast channel: post id -> id of its automatic copy in the discussion group.
    post_thread: dict[int, int] = dataclasses.field(default_factory=dict)
    # Discussion group: copy id -> channel post id.
    copy_of: dict[int, int] = dataclasses.field(default_factory=dict)
    topics: dict[int, str] = dataclasses.field(default_factory=dict)
    viewed: set[int] = dataclasses.field(default_factory=set)

    @property
    def is_channel(self) -> bool:
        """Channels and megagroups share the "channel" id space and peer type."""
        return self.kind in ("channel", "megagroup")

    @property
    def marked_id(self) -> int:
        return -(_CHANNEL_MARK + self.id) if self.is_channel else -self.id

    @property
    def peer(self) -> types.PeerChannel | types.PeerChat:
        return types.PeerChannel(self.id) if self.is_channel else types.PeerChat(self.id)

    @property
    def top_id(self) -> int:
        return self.ids[-1] if self.ids else 0


@dataclasses.dataclass
class Call:
    """One request as the fake received it (a server-side copy, wrappers removed)."""

    request: TLRequest
    takeout_id: int | None = None
    wrappers: tuple[str, ...] = ()
    error: BaseException | None = None
    auth_key_id: int | None = None  # which session (auth key) sent it

    @property
    def name(self) -> str:
        return type(self.request).__name__


@dataclasses.dataclass
class Fault:
    """An injected failure; see :meth:`FakeTelegram.fail_next`."""

    request_types: tuple[type, ...] | None
    error: ErrorSpec
    times: int | None = 1  # None = forever
    after: int = 0  # let this many matching requests through first
    when: Callable[[TLRequest], bool] | None = None
    fired: int = 0

    def matches(self, request: TLRequest) -> bool:
        if self.request_types is not None and not isinstance(request, self.request_types):
            return False
        return self.when is None or bool(self.when(request))

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


# --------------------------------------------------------------------------- sender


class FakeSender:
    """Stands in for ``telethon.network.MTProtoSender``: same public surface
    (connect/disconnect/send/is_connected/disconnected/auth_key), no sockets."""

    def __init__(self, fake: FakeTelegram, auth_key: AuthKey | None = None, **_: Any) -> None:
        self._fake = fake
        if auth_key is None or auth_key.key is None:
            auth_key = AuthKey(os.urandom(256))  # pretend the DH exchange happened
        self.auth_key = auth_key
        self._user_connected = False
        self._disconnected: asyncio.Future | None = None

    async def connect(self, connection: Any) -> bool:
        if self._user_connected:
            return False  # real sender: "already connected", caller skips init
        self._user_connected = True
        self._disconnected = asyncio.get_running_loop().create_future()
        self._fake.connections += 1
        return True

    def is_connected(self) -> bool:
        return self._user_connected

    def _transport_connected(self) -> bool:
        return self._user_connected

    async def disconnect(self) -> None:
        self._user_connected = False
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)

    @property
    def disconnected(self) -> asyncio.Future:
        if self._disconnected is None:
            self._disconnected = asyncio.get_running_loop().create_future()
        return asyncio.shield(self._disconnected)

    def _keepalive_ping(self, rnd_id: int) -> None:
        pass

    def send(self, request: Any, ordered: bool = False) -> Any:
        if not self._user_connected:
            raise ConnectionError("Cannot send requests while disconnected")
        if utils.is_list_like(request):
            return [self._answer(r) for r in request]
        return self._answer(request)

    def _answer(self, request: TLRequest) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self._fake.handle(request, auth_key_id=self.auth_key.key_id))
        except Exception as exc:  # delivered to the awaiting caller like an RPC error
            future.set_exception(exc)
        return future


class FakeTelegramClient(TelegramClient):
    """A real ``TelegramClient`` whose network sender is answered by a :class:`FakeTelegram`."""

    def __init__(
        self,
        fake: FakeTelegram,
        session: str | Session | None = None,
        api_id: int = DEFAULT_API_ID,
        api_hash: str = DEFAULT_API_HASH,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            session if session is not None else StringSession(), api_id, api_hash, **kwargs
        )
        self.fake = fake
        self._sender = FakeSender(fake, self.session.auth_key)


# --------------------------------------------------------------------------- the fake


class FakeTelegram:
    """World state plus a request dispatcher answering Telethon TL requests.

    ``seed`` makes access hashes and media ids deterministic.  ``start``/``tick`` drive
    the fake clock: a message created without ``date`` is ``tick`` after the previous
    object (dates must stay monotonic in id order for ``offset_date`` paging).
    ``roundtrip`` serialises requests and responses through bytes like the wire does;
    turn it off only for speed -- responses then share (and Telethon mutates) the
    stored objects.

    Login: the account is :attr:`me` (phone ``me.phone``).  ``authorized`` is whether it
    is logged in; set it to False (or call :meth:`register_account`) to emulate a
    logged-out session, which then gets ``AUTH_KEY_UNREGISTERED`` for everything but the
    login requests.  With ``strict_sessions=True`` only the auth keys (sessions) that
    completed a login are authorized, as on Telegram; by default any session is."""

    def __init__(
        self,
        *,
        seed: int = 1,
        start: dt.datetime | None = None,
        tick: dt.timedelta = dt.timedelta(minutes=1),
        me_first_name: str = "Archive",
        me_username: str | None = "archiver_bot_test",
        roundtrip: bool = True,
        strict_sessions: bool = False,
    ) -> None:
        self._rng = random.Random(seed)
        self.clock = start or dt.datetime(2024, 1, 1, tzinfo=UTC)
        self.tick = tick
        self.roundtrip = roundtrip
        self.strict_sessions = strict_sessions
        self._authorized = not strict_sessions
        self.authorized_keys: set[int] = set()  # auth keys that completed a login
        self._password_pending: set[int | None] = set()  # code accepted, 2FA password due
        self._password: _Password | None = None
        self._login_codes: dict[str, _LoginCode] = {}  # phone_code_hash -> code
        self.login_code: str | None = DEFAULT_LOGIN_CODE  # None: a random code each time
        self.last_code: str | None = None  # the code the last auth.sendCode "delivered"
        self.last_phone_code_hash: str | None = None
        self._next_pin = 1
        self.chats: dict[int, ChatState] = {}  # marked id -> state
        self.users: dict[int, types.User] = {}
        self._user_about: dict[int, str] = {}
        self._usernames: dict[str, int] = {}  # lower(username) -> marked id
        self._next_user_id = 10_001
        self._next_chat_id = 5_001
        self._next_channel_id = 1_000_000_001
        self._next_media_id = 5_000_000_000_000_000_001
        self._global_next_id = 1  # basic groups share the account-wide message ids
        self._global_msgs: dict[int, tuple[ChatState, Any]] = {}
        self._files: dict[tuple[int, str], tuple[int, int]] = {}  # (id, thumb) -> (seed, size)
        self._default_commenter: types.User | None = None
        self.takeouts: set[int] = set()
        self.finished_takeouts: list[tuple[int, bool]] = []
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.hooks: list[Callable[[TLRequest], Any]] = []
        self.connections = 0
        self._current = Call(functions.help.GetConfigRequest())
        self.me = self.add_user(
            me_first_name, username=me_username, phone="15550000000", is_self=True
        )
        self._handlers: dict[type, Callable[[Any], Any]] = {
            functions.help.GetConfigRequest: self._h_get_config,
            functions.updates.GetStateRequest: self._h_get_state,
            functions.updates.GetDifferenceRequest: self._h_get_difference,
            functions.updates.GetChannelDifferenceRequest: self._h_get_channel_difference,
            functions.users.GetUsersRequest: self._h_get_users,
            functions.users.GetFullUserRequest: self._h_get_full_user,
            functions.contacts.ResolveUsernameRequest: self._h_resolve_username,
            functions.channels.GetChannelsRequest: self._h_get_channels,
            functions.channels.GetFullChannelRequest: self._h_get_full_channel,
            functions.channels.GetMessagesRequest: self._h_channels_get_messages,
            functions.messages.GetChatsRequest: self._h_get_chats,
            functions.messages.GetFullChatRequest: self._h_get_full_chat,
            functions.messages.GetHistoryRequest: self._h_get_history,
            functions.messages.GetRepliesRequest: self._h_get_replies,
            functions.messages.GetMessagesRequest: self._h_messages_get_messages,
            functions.messages.GetMessagesViewsRequest: self._h_get_messages_views,
            functions.messages.GetDiscussionMessageRequest: self._h_get_discussion_message,
            functions.messages.GetForumTopicsRequest: self._h_get_forum_topics,
            functions.account.InitTakeoutSessionRequest: self._h_init_takeout,
            functions.account.FinishTakeoutSessionRequest: self._h_finish_takeout,
            functions.upload.GetFileRequest: self._h_get_file,
            functions.auth.SendCodeRequest: self._h_send_code,
            functions.auth.ResendCodeRequest: self._h_resend_code,
            functions.auth.CancelCodeRequest: self._h_cancel_code,
            functions.auth.SignInRequest: self._h_sign_in,
            functions.account.GetPasswordRequest: self._h_get_password,
            functions.auth.CheckPasswordRequest: self._h_check_password,
            functions.auth.LogOutRequest: self._h_log_out,
            functions.messages.GetDialogsRequest: self._h_get_dialogs,
            functions.messages.GetPeerDialogsRequest: self._h_get_peer_dialogs,
            functions.messages.GetPinnedDialogsRequest: self._h_get_pinned_dialogs,
        }

    # ------------------------------------------------------------------ clients

    def client(
        self, session: str | Session | None = None, *, prime_entities: bool = False, **kwargs: Any
    ) -> FakeTelegramClient:
        """A real ``TelegramClient`` (StringSession by default) wired to this fake.

        Use it inside one event loop: ``async with fake.client() as c`` or
        ``asyncio.run(main())`` creating/connecting the client inside ``main``.
        ``prime_entities=True`` stores every known chat/user (with access hashes) in the
        session, like a session that has seen them before, so ``get_entity(-100...)``
        works without resolving a username first.  Extra kwargs go to TelegramClient
        (e.g. ``flood_sleep_threshold=0``)."""
        client = FakeTelegramClient(self, session, **kwargs)
        if prime_entities:
            self.prime_session(client.session)
        return client

    def attach(self, client: TelegramClient) -> TelegramClient:
        """Answer an already constructed (not yet connected) TelegramClient in-process."""
        client._sender = FakeSender(self, client.session.auth_key)
        return client

    @contextlib.contextmanager
    def patch(self) -> Iterator[FakeTelegram]:
        """Every ``TelegramClient`` constructed inside the block talks to this fake
        (for code under test that builds its own client from a session path)."""

        def factory(auth_key: AuthKey | None, **kwargs: Any) -> FakeSender:
            return FakeSender(self, auth_key)

        with mock.patch.object(telegrambaseclient, "MTProtoSender", factory):
            yield self

    def prime_session(self, session: Session) -> None:
        """Put every entity of the world into a session's entity cache."""
        chats = [self._entity(st) for st in self.chats.values()]
        session.process_entities(
            types.contacts.ResolvedPeer(
                peer=types.PeerUser(self.me.id), chats=chats, users=list(self.users.values())
            )
        )

    # ------------------------------------------------------------------ request log

    @property
    def requests(self) -> list[TLRequest]:
        """Every request received, innermost query (wrappers stripped), in order."""
        return [c.request for c in self.calls]

    def sent(self, *request_types: type) -> list[TLRequest]:
        """Requests of the given types (all if none given)."""
        return [
            c.request
            for c in self.calls
            if not request_types or isinstance(c.request, request_types)
        ]

    def count(self, *request_types: type) -> int:
        return len(self.sent(*request_types))

    def clear_log(self) -> None:
        self.calls.clear()

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        request_type: type | tuple[type, ...] | None,
        error: ErrorSpec,
        times: int | None = 1,
        *,
        after: int = 0,
        when: Callable[[TLRequest], bool] | None = None,
    ) -> Fault:
        """Make matching requests fail.

        ``request_type``: TL request class(es) or None for any request.
        ``error``: exception instance/class, RPC error string (``"FLOOD_WAIT_30"``,
        ``"CHANNEL_PRIVATE"``) or ``callable(request) -> exception``.
        ``times``: how many times to fail (None = forever); ``after``: let that many
        matching requests succeed first (to crash mid-batch); ``when``: extra predicate.
        The error reaches Telethon the way a real RPC error does, i.e. *below*
        ``TelegramClient._call`` -- FloodWaits under ``flood_sleep_threshold`` are slept
        on and retried by Telethon itself."""
        if request_type is not None and not isinstance(request_type, tuple):
            request_type = (request_type,)
        fault = Fault(request_type, error, times, after, when)
        self.faults.append(fault)
        return fault

    def flood_wait(
        self,
        seconds: int,
        request_type: type | tuple[type, ...] | None = None,
        times: int | None = 1,
        *,
        after: int = 0,
    ) -> Fault:
        return self.fail_next(request_type, f"FLOOD_WAIT_{seconds}", times, after=after)

    def crash_after(
        self,
        n: int,
        error: ErrorSpec | None = None,
        request_type: type | tuple[type, ...] | None = None,
    ) -> Fault:
        """Let ``n`` matching requests through, then fail every following one."""
        return self.fail_next(
            request_type, error or RuntimeError("injected crash"), times=None, after=n
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def add_hook(self, hook: Callable[[TLRequest], Any]) -> None:
        """``hook(request)`` runs before each request: raise to fail it, return a
        non-None TL object to answer it instead of the fake, or None to continue."""
        self.hooks.append(hook)

    def _check_faults(self, request: TLRequest) -> None:
        for fault in list(self.faults):
            if not fault.matches(request):
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            fault.fired += 1
            if fault.exhausted:
                self.faults.remove(fault)
            raise _make_error(fault.error, request)

    # ------------------------------------------------------------------ account & login

    @property
    def authorized(self) -> bool:
        """Whether the account is logged in.  Setting False logs it out everywhere."""
        return self._authorized

    @authorized.setter
    def authorized(self, value: bool) -> None:
        self._authorized = bool(value)
        if not value:
            self.authorized_keys.clear()

    def register_account(
        self,
        phone: str | int,
        *,
        password: str | None = None,
        hint: str | None = None,
        first_name: str | None = None,
        last_name: str | None = _UNSET,
        username: str | None = _UNSET,
        logged_in: bool = False,
    ) -> types.User:
        """Make :attr:`me` the account with this phone number (and 2FA ``password``) and,
        unless ``logged_in``, log it out so a test can drive the real login: ::

            fake.register_account("+1 555 123 4567", password="hunter2")
            sent = await client.send_code_request("+15551234567")
            await client.sign_in("+15551234567", fake.last_code)   # SessionPasswordNeeded
            await client.sign_in(password="hunter2")

        Other phone numbers get a code too, but signing in with it raises
        ``PhoneNumberUnoccupiedError`` (Telegram's "sign up required")."""
        normalized = _normalize_phone(phone)
        if not _PHONE_RE.match(normalized):
            raise ValueError(f"invalid phone number {phone!r}")
        me = self.me
        me.phone = normalized
        if first_name is not None:
            me.first_name = first_name
        if last_name is not _UNSET:
            me.last_name = last_name
        if username is not _UNSET:
            self._register_username(username, me.id)  # raises if taken: nothing changed yet
            if me.username and (username or "").lower() != me.username.lower():
                self._usernames.pop(me.username.lower(), None)
            me.username = username
        self.set_password(password, hint=hint)
        self.authorized = logged_in
        return me

    def set_password(self, password: str | None, *, hint: str | None = None) -> None:
        """Set (or with None remove) the account's two-step verification password."""
        if password is None:
            self._password = None
            return
        salt1 = self._rng.randbytes(8) + self._rng.randbytes(32)  # server part + client part
        salt2 = self._rng.randbytes(16)
        v = pow(SRP_G, _srp_x(password, salt1, salt2), int.from_bytes(SRP_PRIME, "big"))
        self._password = _Password(salt1, salt2, v, hint)

    @property
    def has_password(self) -> bool:
        return self._password is not None

    def expire_login_codes(self) -> None:
        """Let every code sent so far expire (sign in then raises PhoneCodeExpiredError)."""
        for entry in self._login_codes.values():
            entry.expired = True

    def authorize(self, client: TelegramClient) -> None:
        """Log a client's session in without the login dance (for ``strict_sessions``)."""
        self._login(client._sender.auth_key.key_id)

    def _key_authorized(self, key: int | None) -> bool:
        if not self._authorized:
            return False
        return not self.strict_sessions or key in self.authorized_keys

    def _login(self, key: int | None) -> types.auth.Authorization:
        self._authorized = True
        if key is not None:
            self.authorized_keys.add(key)
        self._password_pending.discard(key)
        for entry in self._login_codes.values():  # a code is good for one login
            if entry.auth_key_id == key:
                entry.expired = True
        return types.auth.Authorization(user=self.me)

    # ------------------------------------------------------------------ world builders

    def _now(self, date: dt.datetime | None = None) -> dt.datetime:
        """Monotonic fake clock: each new object is ``tick`` later than the previous."""
        if date is not None:
            if date.tzinfo is None:
                date = date.replace(tzinfo=UTC)
            self.clock = max(self.clock, date)
            return date
        self.clock = self.clock + self.tick
        return self.clock

    def _hash(self) -> int:
        return self._rng.randrange(-(2**63), 2**63)

    def _register_username(self, username: str | None, marked: int) -> None:
        if username is None:
            return
        if not _USERNAME_RE.match(username):
            raise ValueError(f"invalid Telegram username {username!r} (5-32 chars, a-z0-9_)")
        key = username.lower()
        if key in self._usernames and self._usernames[key] != marked:
            raise ValueError(f"username {username!r} already taken")
        self._usernames[key] = marked

    def add_user(
        self,
        first_name: str = "User",
        last_name: str | None = None,
        *,
        username: str | None = None,
        bot: bool = False,
        phone: str | None = None,
        premium: bool = False,
        deleted: bool = False,
        about: str = "",
        user_id: int | None = None,
        is_self: bool = False,
    ) -> types.User:
        uid = user_id or self._next_user_id
        self._next_user_id = max(self._next_user_id, uid + 1)
        user = types.User(
            id=uid,
            is_self=is_self or None,
            bot=bot or None,
            premium=premium or None,
            deleted=deleted or None,
            access_hash=self._hash(),
            first_name=None if deleted else first_name,
            last_name=last_name,
            username=username,
            phone=phone,
            status=None if bot or deleted else types.UserStatusRecently(),
            bot_info_version=1 if bot else None,
        )
        self._register_username(username, uid)
        self.users[uid] = user
        self._user_about[uid] = about
        return user

    def add_channel(
        self,
        username: str | None,
        title: str,
        *,
        with_discussion: bool = True,
        megagroup: bool = False,
        forum: bool = False,
        about: str = "",
        participants_count: int = 1000,
        signatures: bool = False,
        discussion_username: str | None = None,
        discussion_title: str | None = None,
        private: bool = False,
        date: dt.datetime | None = None,
        channel_id: int | None = None,
        joined: bool = True,
        discussion_joined: bool = False,
    ) -> types.Channel:
        """A broadcast channel (optionally with a linked discussion supergroup), or a
        supergroup with ``megagroup=True`` / ``forum=True``.  Returns the entity.

        ``joined``: the account is subscribed (the chat is in its dialogs); the linked
        discussion group is not joined unless ``discussion_joined``."""
        megagroup = megagroup or forum
        st = self._new_channel_state(
            "megagroup" if megagroup else "channel",
            username,
            title,
            about=about,
            participants_count=participants_count,
            signatures=signatures,
            forum=forum,
            private=private,
            date=date,
            channel_id=channel_id,
        )
        st.left = not joined
        if with_discussion and not megagroup:
            group = self._new_channel_state(
                "megagroup",
                discussion_username,
                discussion_title or f"{title} Chat",
                about="",
                participants_count=max(1, participants_count // 10),
                date=date,
            )
            group.left = not discussion_joined
            st.linked_chat_id = group.id
            group.linked_chat_id = st.id
        return self._entity(st)

    def add_supergroup(
        self, username: str | None, title: str, *, forum: bool = False, **kwargs: Any
    ) -> types.Channel:
        return self.add_channel(
            username, title, megagroup=True, forum=forum, with_discussion=False, **kwargs
        )

    def add_group(
        self,
        title: str,
        *,
        members: Iterable[types.User] = (),
        date: dt.datetime | None = None,
        joined: bool = True,
    ) -> types.Chat:
        """A legacy basic group (message ids come from the account-wide counter)."""
        cid = self._next_chat_id
        self._next_chat_id += 1
        st = ChatState(
            "chat",
            cid,
            0,
            title,
            None,
            self._now(date),
            participants_count=len(list(members)) + 1,
            left=not joined,
        )
        self.chats[st.marked_id] = st
        return self._entity(st)

    def _new_channel_state(
        self,
        kind: str,
        username: str | None,
        title: str,
        *,
        about: str,
        participants_count: int,
        signatures: bool = False,
        forum: bool = False,
        private: bool = False,
        date: dt.datetime | None = None,
        channel_id: int | None = None,
    ) -> ChatState:
        cid = channel_id or self._next_channel_id
        self._next_channel_id = max(self._next_channel_id, cid + 1)
        st = ChatState(
            kind,
            cid,
            self._hash(),
            title,
            username,
            self._now(date),
            about=about,
            forum=forum,
            signatures=signatures,
            participants_count=participants_count,
            private=private,
        )
        self._register_username(username, st.marked_id)
        self.chats[st.marked_id] = st
        return st

    def discussion_of(self, channel: ChatLike) -> types.Channel | None:
        """The linked discussion group entity of a channel."""
        st = self.state(channel)
        if not st.linked_chat_id:
            return None
        return self._entity(self.chats[-(_CHANNEL_MARK + st.linked_chat_id)])

    def state(self, chat: ChatLike) -> ChatState:
        """Internal state of a chat given entity, marked/bare id, username or state."""
        if isinstance(chat, ChatState):
            return chat
        if isinstance(chat, str):
            marked = self._usernames.get(chat.lstrip("@").lower())
            if marked is None or marked not in self.chats:
                raise KeyError(f"no chat with username {chat!r}")
            return self.chats[marked]
        if isinstance(chat, (types.Channel, types.ChannelForbidden)):
            return self.chats[-(_CHANNEL_MARK + chat.id)]
        if isinstance(chat, (types.Chat, types.ChatForbidden)):
            return self.chats[-chat.id]
        if isinstance(chat, int):
            for key in (chat, -(_CHANNEL_MARK + chat), -chat):
                if key in self.chats:
                    return self.chats[key]
        raise KeyError(f"unknown chat {chat!r}")

    def user(self, user: UserLike) -> types.User:
        if isinstance(user, types.User):
            return self.users[user.id]
        if isinstance(user, str):
            return self.users[self._usernames[user.lstrip("@").lower()]]
        return self.users[user]

    def entity(self, chat: ChatLike) -> Any:
        """Current entity object (Channel/Chat/ChannelForbidden) of a chat."""
        return self._entity(self.state(chat))

    def update_chat(
        self,
        chat: ChatLike,
        *,
        title: str | None = None,
        username: str | None = _UNSET,
        about: str | None = None,
        participants_count: int | None = None,
    ) -> None:
        st = self.state(chat)
        if title is not None:
            st.title = title
        if username is not _UNSET:
            if st.username:
                self._usernames.pop(st.username.lower(), None)
            self._register_username(username, st.marked_id)
            st.username = username
        if about is not None:
            st.about = about
        if participants_count is not None:
            st.participants_count = participants_count

    def set_private(self, chat: ChatLike, private: bool = True) -> None:
        """Private/banned: reads raise CHANNEL_PRIVATE and the entity becomes ChannelForbidden."""
        self.state(chat).private = private

    def join(self, chat: ChatLike, *, pinned: bool = False, archived: bool = False) -> None:
        """The account is a member: the chat is in its dialogs (pinned and/or in the
        archive folder if asked).  Joining again updates pinned/archived."""
        st = self.state(chat)
        st.left = False
        st.folder_id = ARCHIVE_FOLDER if archived else None
        if not pinned:
            st.dialog_pin = None
        elif st.dialog_pin is None:
            st.dialog_pin = self._next_pin
            self._next_pin += 1

    def leave(self, chat: ChatLike) -> None:
        """Not a member any more: gone from the dialogs, entity gets the ``left`` flag."""
        st = self.state(chat)
        st.left = True
        st.dialog_pin = None
        st.folder_id = None

    def dialogs(self, *, folder_id: int | None = None) -> list[ChatState]:
        """The account's dialogs in Telegram's order: pinned (last pinned first), then
        by the date of their newest message, newest first."""
        return self._dialog_list(folder_id, exclude_pinned=False)

    # ------------------------------------------------------------------ media builders

    def _media_id(self) -> int:
        self._next_media_id += 1
        return self._next_media_id

    def _register_file(self, media_id: int, thumb: str, size: int) -> None:
        self._files[(media_id, thumb)] = (self._rng.randrange(2**32), size)

    def file_bytes(self, media: Any, thumb: str | None = None) -> bytes:
        """The content a download of this media returns (deterministic pseudo-random)."""
        if isinstance(media, types.MessageMediaPhoto):
            media = media.photo
        elif isinstance(media, types.MessageMediaDocument):
            media = media.document
        if thumb is None:
            thumb = "" if isinstance(media, types.Document) else self._largest_size(media)
        seed, size = self._files[(media.id, thumb)]
        return random.Random(seed).randbytes(size)

    @staticmethod
    def _largest_size(photo: types.Photo) -> str:
        best = max(
            (
                s
                for s in photo.sizes
                if isinstance(s, (types.PhotoSize, types.PhotoSizeProgressive))
            ),
            key=lambda s: s.w * s.h,
        )
        return best.type

    def photo(
        self,
        w: int = 1280,
        h: int = 720,
        *,
        size: int = 20_000,
        spoiler: bool = False,
        date: dt.datetime | None = None,
    ) -> types.MessageMediaPhoto:
        """MessageMediaPhoto with stripped, "m", "x" and progressive "y" sizes."""
        pid = self._media_id()
        small = (min(w, 320), min(h, 320))
        mid = (min(w, 800), min(h, 800))
        sizes = [
            types.PhotoStrippedSize("i", b"\x01\x28\x28" + bytes(40)),
            types.PhotoSize("m", small[0], small[1], max(1, size // 8)),
            types.PhotoSize("x", mid[0], mid[1], max(1, size // 3)),
            types.PhotoSizeProgressive("y", w, h, [size // 10, size // 2, size]),
        ]
        for s in sizes[1:]:
            self._register_file(pid, s.type, getattr(s, "size", None) or s.sizes[-1])
        photo = types.Photo(
            id=pid,
            access_hash=self._hash(),
            file_reference=os.urandom(16),
            date=date or self.clock,
            sizes=sizes,
            dc_id=2,
        )
        return types.MessageMediaPhoto(photo=photo, spoiler=spoiler or None)

    def document(
        self,
        file_name: str | None = "file.bin",
        mime_type: str = "application/octet-stream",
        *,
        size: int = 10_000,
        attributes: Iterable[Any] = (),
        thumb: bool = False,
        date: dt.datetime | None = None,
        **media_flags: Any,
    ) -> types.MessageMediaDocument:
        """MessageMediaDocument; ``attributes`` are appended after the file name."""
        did = self._media_id()
        attrs = list(attributes)
        if file_name is not None:
            attrs.append(types.DocumentAttributeFilename(file_name))
        thumbs = None
        if thumb:
            thumbs = [types.PhotoSize("m", 320, 180, 3000)]
            self._register_file(did, "m", 3000)
        self._register_file(did, "", size)
        doc = types.Document(
            id=did,
            access_hash=self._hash(),
            file_reference=os.urandom(16),
            date=date or self.clock,
            mime_type=mime_type,
            size=size,
            dc_id=2,
            attributes=attrs,
            thumbs=thumbs,
        )
        return types.MessageMediaDocument(document=doc, **media_flags)

    def video(
        self,
        duration: float = 10.0,
        w: int = 1280,
        h: int = 720,
        *,
        file_name: str | None = "video.mp4",
        size: int = 200_000,
        round: bool = False,
        supports_streaming: bool = True,
    ) -> types.MessageMediaDocument:
        attr = types.DocumentAttributeVideo(
            duration=duration,
            w=w,
            h=h,
            round_message=round or None,
            supports_streaming=supports_streaming or None,
        )
        return self.document(
            file_name,
            "video/mp4",
            size=size,
            attributes=[attr],
            thumb=True,
            video=True if not round else None,
            round=round or None,
        )

    def audio(
        self,
        duration: int = 180,
        *,
        title: str | None = None,
        performer: str | None = None,
        file_name: str | None = "audio.mp3",
        size: int = 100_000,
    ) -> types.MessageMediaDocument:
        attr = types.DocumentAttributeAudio(duration=duration, title=title, performer=performer)
        return self.document(file_name, "audio/mpeg", size=size, attributes=[attr])

    def voice(self, duration: int = 5, *, size: int = 8_000) -> types.MessageMediaDocument:
        attr = types.DocumentAttributeAudio(
            duration=duration, voice=True, waveform=bytes(range(0, 63))
        )
        return self.document(None, "audio/ogg", size=size, attributes=[attr], voice=True)

    def poll(
        self,
        question: str,
        answers: list[str],
        *,
        votes: list[int] | None = None,
        closed: bool = False,
        quiz: bool = False,
        correct: int | None = None,
        multiple_choice: bool = False,
        public_voters: bool = False,
    ) -> types.MessageMediaPoll:
        options = [bytes([i]) for i in range(len(answers))]
        poll = types.Poll(
            id=self._media_id(),
            question=types.TextWithEntities(question, []),
            answers=[
                types.PollAnswer(types.TextWithEntities(a, []), o)
                for a, o in zip(answers, options, strict=True)
            ],
            hash=0,
            closed=closed or None,
            quiz=quiz or None,
            multiple_choice=multiple_choice or None,
            public_voters=public_voters or None,
        )
        voters = None
        if votes is not None:
            voters = [
                # voters/recent_voters share one TL flag: both present or both absent
                types.PollAnswerVoters(
                    o, voters=v, recent_voters=[], correct=(i == correct) or None
                )
                for i, (o, v) in enumerate(zip(options, votes, strict=True))
            ]
        results = types.PollResults(
            results=voters, total_voters=sum(votes) if votes is not None else 0
        )
        return types.MessageMediaPoll(poll=poll, results=results)

    def webpage(
        self,
        url: str,
        *,
        title: str | None = None,
        description: str | None = None,
        site_name: str | None = None,
    ) -> types.MessageMediaWebPage:
        display = re.sub(r"^https?://", "", url)
        page = types.WebPage(
            id=self._media_id(),
            url=url,
            display_url=display,
            hash=0,
            type="article",
            site_name=site_name,
            title=title,
            description=description,
        )
        return types.MessageMediaWebPage(webpage=page)

    def forward_header(
        self,
        source: ChatLike | types.User | None = None,
        msg_id: int | None = None,
        *,
        date: dt.datetime | None = None,
        post_author: str | None = None,
        from_name: str | None = None,
    ) -> types.MessageFwdHeader:
        """``fwd_from`` for a message forwarded from a channel post / user / hidden user."""
        from_id = None
        if isinstance(source, types.User):
            from_id = types.PeerUser(source.id)
        elif source is not None:
            from_id = self.state(source).peer
        return types.MessageFwdHeader(
            date=date or self.clock - dt.timedelta(days=1),
            from_id=from_id,
            from_name=from_name,
            channel_post=msg_id
            if from_id is not None and isinstance(from_id, types.PeerChannel)
            else None,
            post_author=post_author,
        )

    # ------------------------------------------------------------------ messages

    def _alloc_id(self, st: ChatState, msg_id: int | None) -> int:
        if st.kind == "chat":  # basic groups: account-wide message id sequence
            mid = msg_id or self._global_next_id
            self._global_next_id = max(self._global_next_id, mid) + 1
            return mid
        mid = msg_id or st.next_id
        if st.ids and mid <= st.ids[-1]:
            raise ValueError(f"message id {mid} must be greater than {st.ids[-1]}")
        st.next_id = mid + 1
        return mid

    def _store(self, st: ChatState, msg: Any) -> Any:
        st.ids.append(msg.id)  # ids only grow, so the list stays sorted
        st.msgs[msg.id] = msg
        st.pts += 1
        if st.kind == "chat":
            self._global_msgs[msg.id] = (st, msg)
        return msg

    def post(
        self,
        channel: ChatLike,
        text: str = "",
        *,
        entities: list | None = None,
        media: Any = None,
        grouped_id: int | None = None,
        fwd_from: types.MessageFwdHeader | None = None,
        post_author: str | None = None,
        date: dt.datetime | None = None,
        views: int | None = None,
        forwards: int = 0,
        reactions: types.MessageReactions | dict | None = None,
        reply_to: int | None = None,
        from_user: UserLike | None = None,
        from_channel: ChatLike | None = None,
        topic_id: int | None = None,
        comments: bool = True,
        pinned: bool = False,
        silent: bool = False,
        noforwards: bool = False,
        parse_mode: str | None = None,
        msg_id: int | None = None,
        edit_date: dt.datetime | None = None,
    ) -> types.Message:
        """A new message.  In a broadcast channel: a post (views, signatures) that also
        gets its automatic copy in the discussion group when one is linked and
        ``comments`` is true.  In groups: a message ``from_user`` (or ``from_channel``
        for anonymous admins / channels), optionally a reply or in a forum topic.
        Returns the live stored message (mutate it only via the fake's methods)."""
        st = self.state(channel)
        text, entities = _parse_text(text, entities, parse_mode)
        if isinstance(reactions, dict):
            reactions = _make_reactions(reactions)
        date = self._now(date)
        broadcast = st.kind == "channel"
        from_id = None
        if not broadcast:
            if from_channel is not None:
                from_id = self.state(from_channel).peer
            else:
                user = self.user(from_user) if from_user is not None else self.me
                from_id = types.PeerUser(user.id)
        if broadcast:  # channel posts may quote earlier posts but never form threads
            top = None
            header = types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None
        else:
            header, top = self._reply_header(st, reply_to, topic_id)
        msg = types.Message(
            id=self._alloc_id(st, msg_id),
            peer_id=st.peer,
            date=date,
            message=text,
            entities=entities,
            media=media,
            grouped_id=grouped_id,
            fwd_from=fwd_from,
            post=broadcast or None,
            from_id=from_id,
            reply_to=header,
            post_author=post_author,
            views=(1 if views is None else views) if broadcast else None,
            forwards=forwards if broadcast else None,
            reactions=reactions,
            pinned=pinned or None,
            silent=silent or None,
            noforwards=noforwards or None,
            edit_date=edit_date,
            out=(isinstance(from_id, types.PeerUser) and from_id.user_id == self.me.id) or None,
        )
        self._store(st, msg)
        if pinned:
            st.pinned_msg_id = msg.id
        if top is not None:
            self._add_to_thread(st, top, msg)
        if broadcast and st.linked_chat_id and comments:
            self._auto_forward(st, msg)
        return msg

    send = post  # reads better for groups

    def _reply_header(
        self, st: ChatState, reply_to: int | None, topic_id: int | None
    ) -> tuple[types.MessageReplyHeader | None, int | None]:
        """Reply header + thread id following Telegram: a direct reply to the thread top
        has only reply_to_msg_id; deeper replies also carry reply_to_top_id."""
        target = None
        if reply_to is not None:
            target = st.msgs.get(reply_to)
            if target is None:
                raise KeyError(f"message {reply_to} not in {st.title!r}")
            if st.forum and topic_id is None:  # a reply stays in the target's topic
                if target.id in st.topics:
                    topic_id = target.id
                elif isinstance(target.reply_to, types.MessageReplyHeader) and (
                    target.reply_to.forum_topic
                ):
                    topic_id = _thread_top(target)
        forum = st.forum and topic_id not in (None, 1)
        if target is None:
            if forum:
                header = types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=topic_id)
                return header, topic_id
            return None, None
        top = topic_id if forum else _thread_top(target)
        if forum and target.id == topic_id:
            return types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=topic_id), top
        return types.MessageReplyHeader(
            forum_topic=forum or None,
            reply_to_msg_id=reply_to,
            reply_to_top_id=top if top != reply_to else None,
        ), top

    def _auto_forward(self, st: ChatState, post: types.Message) -> types.Message:
        """Telegram copies each channel post into the linked group; comments reply to
        that copy.  The copy is sent "as" the channel and points back via fwd_from."""
        group = self.chats[-(_CHANNEL_MARK + st.linked_chat_id)]
        channel_peer = types.PeerChannel(st.id)
        copy = types.Message(
            id=self._alloc_id(group, None),
            peer_id=group.peer,
            date=post.date,
            message=post.message,
            entities=post.entities,
            media=post.media,
            grouped_id=post.grouped_id,
            from_id=channel_peer,
            fwd_from=types.MessageFwdHeader(
                date=post.date,
                from_id=channel_peer,
                channel_post=post.id,
                post_author=post.post_author,
                saved_from_peer=channel_peer,
                saved_from_msg_id=post.id,
            ),
            replies=types.MessageReplies(replies=0, replies_pts=group.pts),
        )
        self._store(group, copy)
        group.threads[copy.id] = []
        group.copy_of[copy.id] = post.id
        st.post_thread[post.id] = copy.id
        post.replies = types.MessageReplies(
            replies=0, replies_pts=group.pts, comments=True, channel_id=group.id
        )
        return copy

    def comment(
        self,
        channel: ChatLike,
        post_id: int,
        text: str = "",
        *,
        from_user: UserLike | None = None,
        from_channel: ChatLike | None = None,
        reply_to: int | None = None,
        entities: list | None = None,
        media: Any = None,
        date: dt.datetime | None = None,
        reactions: types.MessageReactions | dict | None = None,
        grouped_id: int | None = None,
        fwd_from: types.MessageFwdHeader | None = None,
        parse_mode: str | None = None,
    ) -> types.Message:
        """A comment under a channel post: a message in the discussion group replying to
        the post's automatic copy (``reply_to`` = id of another comment to nest)."""
        st = self.state(channel)
        copy_id = st.post_thread.get(post_id)
        if copy_id is None:
            raise ValueError(f"post {post_id} of {st.title!r} has no comment thread")
        group = self.chats[-(_CHANNEL_MARK + st.linked_chat_id)]
        if from_user is None and from_channel is None:
            if self._default_commenter is None:
                self._default_commenter = self.add_user("Commenter")
            from_user = self._default_commenter
        return self.post(
            group,
            text,
            entities=entities,
            media=media,
            date=date,
            reactions=reactions,
            grouped_id=grouped_id,
            fwd_from=fwd_from,
            reply_to=reply_to if reply_to is not None else copy_id,
            from_user=from_user,
            from_channel=from_channel,
            parse_mode=parse_mode,
        )

    def _add_to_thread(self, group: ChatState, top: int, msg: Any) -> None:
        thread = group.threads.setdefault(top, [])
        thread.append(msg.id)
        self._refresh_replies(group, top)

    def _refresh_replies(self, group: ChatState, top: int) -> None:
        """Recompute MessageReplies of a thread top (and of the channel post it mirrors)."""
        thread = group.threads.get(top, [])
        recent: list[Any] = []
        seen: set[int] = set()
        for mid in thread[:-50:-1]:  # bounded: a chatty thread must not cost O(n) per reply
            peer = group.msgs[mid].from_id
            if peer is not None and _marked(peer) not in seen:
                seen.add(_marked(peer))
                recent.append(peer)
                if len(recent) == 3:
                    break
        max_id = thread[-1] if thread else None
        top_msg = group.msgs.get(top)
        if top_msg is not None and not isinstance(top_msg, types.MessageService):
            top_msg.replies = types.MessageReplies(
                replies=len(thread),
                replies_pts=group.pts,
                max_id=max_id,
                recent_repliers=recent or None,
            )
        post_id = group.copy_of.get(top)
        if post_id is not None and group.linked_chat_id:
            channel = self.chats[-(_CHANNEL_MARK + group.linked_chat_id)]
            post = channel.msgs.get(post_id)
            if post is not None:
                post.replies = types.MessageReplies(
                    replies=len(thread),
                    replies_pts=group.pts,
                    comments=True,
                    channel_id=group.id,
                    max_id=max_id,
                    recent_repliers=recent or None,
                )

    def service(
        self,
        chat: ChatLike,
        action: Any,
        *,
        from_user: UserLike | None = None,
        date: dt.datetime | None = None,
        reply_to: int | None = None,
        msg_id: int | None = None,
    ) -> types.MessageService:
        """A service message (channel created, pin, title change, topic created ...)."""
        st = self.state(chat)
        broadcast = st.kind == "channel"
        from_id = None
        if not broadcast:
            from_id = types.PeerUser(self.user(from_user).id if from_user else self.me.id)
        msg = types.MessageService(
            id=self._alloc_id(st, msg_id),
            peer_id=st.peer,
            date=self._now(date),
            action=action,
            from_id=from_id,
            post=broadcast or None,
            reply_to=types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None,
        )
        return self._store(st, msg)

    def pin(self, chat: ChatLike, msg_id: int) -> types.MessageService:
        st = self.state(chat)
        st.msgs[msg_id].pinned = True
        st.pinned_msg_id = msg_id
        return self.service(st, types.MessageActionPinMessage(), reply_to=msg_id)

    def add_topic(
        self,
        group: ChatLike,
        title: str,
        *,
        from_user: UserLike | None = None,
        icon_color: int = 0x6FB9F0,
    ) -> int:
        """Create a forum topic; its id is the id of the MessageActionTopicCreate message."""
        st = self.state(group)
        if not st.forum:
            raise ValueError(f"{st.title!r} is not a forum")
        msg = self.service(
            st,
            types.MessageActionTopicCreate(title=title, icon_color=icon_color),
            from_user=from_user,
        )
        st.topics[msg.id] = title
        st.threads.setdefault(msg.id, [])
        return msg.id

    def edit(
        self,
        chat: ChatLike,
        msg_id: int,
        text: str | None = None,
        *,
        entities: list | None = None,
        media: Any = _UNSET,
        date: dt.datetime | None = None,
        parse_mode: str | None = None,
        hide: bool = False,
    ) -> Any:
        """Edit text/entities/media; sets edit_date (Telegram bumps pts, not ids).  Editing
        a channel post also edits its discussion copy, as Telegram does."""
        st = self.state(chat)
        msg = st.msgs[msg_id]
        edit_date = self._now(date)
        if text is not None:
            msg.message, msg.entities = _parse_text(text, entities, parse_mode)
        elif entities is not None:
            msg.entities = entities
        if media is not _UNSET:
            msg.media = media
        msg.edit_date = edit_date
        msg.edit_hide = hide or None
        st.pts += 1
        copy_id = st.post_thread.get(msg_id)
        if copy_id is not None:
            group = self.chats[-(_CHANNEL_MARK + st.linked_chat_id)]
            copy = group.msgs.get(copy_id)
            if copy is not None:
                copy.message, copy.entities, copy.media = msg.message, msg.entities, msg.media
                copy.edit_date = edit_date
                group.pts += 1
        return msg

    def delete(self, chat: ChatLike, *msg_ids: int) -> None:
        """Delete messages (history skips them, get_messages returns MessageEmpty).
        Deleting a comment updates the thread counters like Telegram does."""
        st = self.state(chat)
        touched: set[int] = set()
        for mid in msg_ids:
            msg = st.msgs.pop(mid, None)
            if msg is None:
                continue
            del st.ids[bisect.bisect_left(st.ids, mid)]
            if st.kind == "chat":
                self._global_msgs.pop(mid, None)
            top = _thread_top(msg)
            if top != mid and top in st.threads:
                thread = st.threads[top]
                i = bisect.bisect_left(thread, mid)
                if i < len(thread) and thread[i] == mid:
                    del thread[i]
                    touched.add(top)
        st.pts += 1
        for top in touched:
            self._refresh_replies(st, top)

    def set_views(
        self, chat: ChatLike, msg_id: int, views: int, forwards: int | None = None
    ) -> None:
        msg = self.state(chat).msgs[msg_id]
        msg.views = views
        if forwards is not None:
            msg.forwards = forwards

    def set_reactions(
        self, chat: ChatLike, msg_id: int, value: types.MessageReactions | dict | None
    ) -> None:
        msg = self.state(chat).msgs[msg_id]
        msg.reactions = _make_reactions(value) if isinstance(value, dict) else value

    def message(self, chat: ChatLike, msg_id: int) -> Any:
        """The live stored message."""
        return self.state(chat).msgs[msg_id]

    def messages(self, chat: ChatLike) -> list[Any]:
        """All stored messages of a chat, oldest first."""
        st = self.state(chat)
        return [st.msgs[i] for i in st.ids]

    def thread_copy_id(self, channel: ChatLike, post_id: int) -> int | None:
        """Id of the post's automatic copy in the discussion group."""
        return self.state(channel).post_thread.get(post_id)

    # ------------------------------------------------------------------ dispatch

    def handle(self, raw_request: TLRequest, auth_key_id: int | None = None) -> Any:
        """Answer one request exactly as a server would (used by :class:`FakeSender`,
        which passes the id of its session's auth key)."""
        if self.roundtrip:
            # Like MTProtoSender: the request must serialise; the server sees a copy, so
            # later client-side mutation (Telethon reuses request objects) can't leak in.
            request = BinaryReader(bytes(raw_request)).tgread_object()
        else:
            request = raw_request
        wrappers: list[str] = []
        takeout_id = None
        while True:
            if isinstance(request, functions.InvokeWithTakeoutRequest):
                takeout_id = request.takeout_id
            elif not isinstance(request, _TRANSPARENT_WRAPPERS):
                break
            wrappers.append(type(request).__name__)
            request = request.query
        call = Call(request, takeout_id, tuple(wrappers), auth_key_id=auth_key_id)
        self.calls.append(call)
        self._current = call
        try:
            result = self._dispatch(request, takeout_id)
        except Exception as exc:
            call.error = exc
            raise
        return _clone(result) if self.roundtrip else result

    def _dispatch(self, request: TLRequest, takeout_id: int | None) -> Any:
        self._check_faults(request)
        for hook in list(self.hooks):
            answer = hook(request)
            if answer is not None:
                return answer
        key = self._current.auth_key_id
        if not isinstance(request, _NO_AUTH_REQUESTS) and not self._key_authorized(key):
            if key in self._password_pending:
                raise errors.SessionPasswordNeededError(request=request)
            raise errors.AuthKeyUnregisteredError(request=request)
        if takeout_id is not None and takeout_id not in self.takeouts:
            raise errors.TakeoutInvalidError(request=request)
        handler = self._handlers.get(type(request))
        if handler is None:
            raise NotImplementedError(
                f"FakeTelegram does not implement {type(request).__name__}; add a handler in "
                f"tests/faketg.py or answer it with fake.add_hook()"
            )
        return handler(request)

    # ------------------------------------------------------------------ entity resolution

    def _entity(self, st: ChatState) -> Any:
        if st.kind == "chat":
            return types.Chat(
                id=st.id,
                title=st.title,
                photo=types.ChatPhotoEmpty(),
                participants_count=st.participants_count,
                date=st.date,
                version=1,
                left=st.left or None,
            )
        if st.private:
            return types.ChannelForbidden(
                id=st.id,
                access_hash=st.access_hash,
                title=st.title,
                broadcast=(st.kind == "channel") or None,
                megagroup=(st.kind == "megagroup") or None,
            )
        return types.Channel(
            id=st.id,
            title=st.title,
            photo=types.ChatPhotoEmpty(),
            date=st.date,
            broadcast=(st.kind == "channel") or None,
            megagroup=(st.kind == "megagroup") or None,
            forum=st.forum or None,
            has_link=bool(st.linked_chat_id) or None,
            signatures=st.signatures or None,
            left=st.left or None,
            access_hash=st.access_hash,
            username=st.username,
        )

    def _channel(self, inp: Any, request: TLRequest, *, readable: bool = True) -> ChatState:
        """InputChannel/InputPeerChannel -> state, validating the access hash like Telegram."""
        if isinstance(inp, (types.InputChannel, types.InputPeerChannel)):
            st = self.chats.get(-(_CHANNEL_MARK + inp.channel_id))
            if st is None or st.access_hash != inp.access_hash:
                raise errors.ChannelInvalidError(request=request)
        else:
            raise errors.ChannelInvalidError(request=request)
        if readable and st.private:
            raise errors.ChannelPrivateError(request=request)
        return st

    def _peer(self, inp: Any, request: TLRequest) -> ChatState | types.User:
        if isinstance(inp, (types.InputChannel, types.InputPeerChannel)):
            return self._channel(inp, request)
        if isinstance(inp, types.InputPeerChat):
            st = self.chats.get(-inp.chat_id)
            if st is None:
                raise errors.PeerIdInvalidError(request=request)
            return st
        if isinstance(inp, (types.InputPeerSelf, types.InputUserSelf)):
            return self.me
        if isinstance(inp, (types.InputPeerUser, types.InputUser)):
            user = self.users.get(inp.user_id)
            if user is None or user.access_hash != inp.access_hash:
                raise errors.PeerIdInvalidError(request=request)
            return user
        raise errors.PeerIdInvalidError(request=request)

    def _entities(
        self, msgs: Iterable[Any], extra: Iterable[ChatState] = ()
    ) -> tuple[list[Any], list[types.User]]:
        """chats/users vectors for a response: every peer the messages mention."""
        chats: dict[int, Any] = {}
        users: dict[int, types.User] = {}
        for st in extra:
            chats[st.marked_id] = self._entity(st)

        def add(peer: Any) -> None:
            if isinstance(peer, types.PeerUser):
                if peer.user_id not in users and peer.user_id in self.users:
                    users[peer.user_id] = self.users[peer.user_id]
            elif peer is not None:
                key = _marked(peer)
                if key not in chats and key in self.chats:
                    chats[key] = self._entity(self.chats[key])

        for m in msgs:
            add(m.peer_id)
            add(m.from_id)
            fwd = m.fwd_from
            if fwd is not None:
                add(fwd.from_id)
                add(fwd.saved_from_peer)
                add(fwd.saved_from_id)
            replies = getattr(m, "replies", None)
            if replies is not None:
                if replies.channel_id:
                    add(types.PeerChannel(replies.channel_id))
                for p in replies.recent_repliers or ():
                    add(p)
            if getattr(m, "via_bot_id", None):
                add(types.PeerUser(m.via_bot_id))
            action = getattr(m, "action", None)
            for uid in getattr(action, "users", None) or ():
                add(types.PeerUser(uid))
        return list(chats.values()), list(users.values())

    # ------------------------------------------------------------------ paging

    @staticmethod
    def _page(ids: list[int], msgs: dict[int, Any], request: Any) -> list[int]:
        """Telegram's offset pagination on an ascending id list, result newest first.

        offset = offsetFromID(offset_id) + add_offset, where offsetFromID counts the
        entries with id >= offset_id (so offset_id itself is excluded); then ``limit``
        entries are taken (start clamped at 0, end kept) and max_id/min_id filter the
        slice afterwards (https://core.telegram.org/api/offsets)."""
        n = len(ids)
        if request.offset_id:
            start = n - bisect.bisect_left(ids, request.offset_id)
        elif _timestamp(request.offset_date):
            # "messages sent before offset_date"; dates are monotonic in id order.
            # (0 on the wire means "no date"; it parses back as the 1970 epoch.)
            start = n - bisect.bisect_left(
                ids, _timestamp(request.offset_date), key=lambda i: _timestamp(msgs[i].date)
            )
        else:
            start = 0
        limit = request.limit if request.limit > 0 else DEFAULT_LIMIT
        start += request.add_offset
        end = min(start + min(limit, MAX_LIMIT), n)
        start = max(start, 0)
        if end <= start:
            return []
        page = ids[n - end : n - start]
        page.reverse()
        if request.max_id:
            page = [i for i in page if i < request.max_id]
        if request.min_id:
            page = [i for i in page if i > request.min_id]
        return page

    # ------------------------------------------------------------------ handlers

    def _h_get_config(self, r: Any) -> types.Config:
        return types.Config(
            date=self.clock,
            expires=self.clock + dt.timedelta(hours=1),
            test_mode=False,
            this_dc=2,
            dc_options=[types.DcOption(id=2, ip_address="149.154.167.51", port=443)],
            dc_txt_domain_name="",
            chat_size_max=200,
            megagroup_size_max=200000,
            forwarded_count_max=100,
            online_update_period_ms=210000,
            offline_blur_timeout_ms=5000,
            offline_idle_timeout_ms=30000,
            online_cloud_timeout_ms=300000,
            notify_cloud_delay_ms=30000,
            notify_default_delay_ms=1500,
            push_chat_period_ms=60000,
            push_chat_limit=2,
            edit_time_limit=172800,
            revoke_time_limit=2147483647,
            revoke_pm_time_limit=2147483647,
            rating_e_decay=2419200,
            stickers_recent_limit=200,
            channels_read_media_period=604800,
            call_receive_timeout_ms=20000,
            call_ring_timeout_ms=90000,
            call_connect_timeout_ms=30000,
            call_packet_timeout_ms=10000,
            me_url_prefix="",
            caption_length_max=1024,
            message_length_max=4096,
            webfile_dc_id=4,
        )

    def _h_get_state(self, r: Any) -> types.updates.State:
        return types.updates.State(pts=1, qts=0, date=self.clock, seq=1, unread_count=0)

    def _h_get_difference(self, r: Any) -> types.updates.DifferenceEmpty:
        return types.updates.DifferenceEmpty(date=self.clock, seq=1)

    def _h_get_channel_difference(self, r: Any) -> types.updates.ChannelDifferenceEmpty:
        st = self._channel(r.channel, r)
        return types.updates.ChannelDifferenceEmpty(pts=st.pts, final=True)

    def _h_get_users(self, r: Any) -> list[Any]:
        out: list[Any] = []
        for inp in r.id:
            if isinstance(inp, types.InputUserSelf):
                out.append(self.me)
                continue
            user = self.users.get(getattr(inp, "user_id", None))
            ok = user is not None and user.access_hash == inp.access_hash
            out.append(user if ok else types.UserEmpty(id=getattr(inp, "user_id", 0)))
        return out

    def _h_get_full_user(self, r: Any) -> types.users.UserFull:
        user = self._peer(r.id, r)
        full = types.UserFull(
            id=user.id,
            settings=types.PeerSettings(),
            notify_settings=types.PeerNotifySettings(),
            common_chats_count=0,
            about=self._user_about.get(user.id) or None,
        )
        return types.users.UserFull(full_user=full, chats=[], users=[user])

    def _h_resolve_username(self, r: Any) -> types.contacts.ResolvedPeer:
        if not _USERNAME_RE.match(r.username):
            raise errors.UsernameInvalidError(request=r)
        marked = self._usernames.get(r.username.lower())
        if marked is None:
            raise errors.UsernameNotOccupiedError(request=r)
        if marked > 0:
            return types.contacts.ResolvedPeer(
                peer=types.PeerUser(marked), chats=[], users=[self.users[marked]]
            )
        st = self.chats[marked]
        return types.contacts.ResolvedPeer(peer=st.peer, chats=[self._entity(st)], users=[])

    def _h_get_channels(self, r: Any) -> types.messages.Chats:
        return types.messages.Chats(
            chats=[self._entity(self._channel(c, r, readable=False)) for c in r.id]
        )

    def _h_get_chats(self, r: Any) -> types.messages.Chats:
        out = []
        for cid in r.id:
            st = self.chats.get(-cid)
            if st is None:
                raise errors.ChatIdInvalidError(request=r)
            out.append(self._entity(st))
        return types.messages.Chats(chats=out)

    def _h_get_full_channel(self, r: Any) -> types.messages.ChatFull:
        st = self._channel(r.channel, r)
        extra = [st]
        if st.linked_chat_id:
            extra.append(self.chats[-(_CHANNEL_MARK + st.linked_chat_id)])
        full = types.ChannelFull(
            id=st.id,
            about=st.about,
            read_inbox_max_id=st.top_id,
            read_outbox_max_id=st.top_id,
            unread_count=0,
            chat_photo=types.PhotoEmpty(id=0),
            notify_settings=types.PeerNotifySettings(),
            bot_info=[],
            pts=st.pts,
            participants_count=st.participants_count,
            admins_count=1,
            can_view_participants=(st.kind == "megagroup") or None,
            linked_chat_id=st.linked_chat_id,
            pinned_msg_id=st.pinned_msg_id,
        )
        chats, users = self._entities((), extra)
        return types.messages.ChatFull(full_chat=full, chats=chats, users=users)

    def _h_get_full_chat(self, r: Any) -> types.messages.ChatFull:
        st = self.chats.get(-r.chat_id)
        if st is None:
            raise errors.ChatIdInvalidError(request=r)
        full = types.ChatFull(
            id=st.id,
            about=st.about,
            participants=types.ChatParticipants(st.id, [], 1),
            notify_settings=types.PeerNotifySettings(),
            pinned_msg_id=st.pinned_msg_id,
        )
        return types.messages.ChatFull(full_chat=full, chats=[self._entity(st)], users=[])

    def _messages_response(
        self, st: ChatState, page: list[Any], count: int, extra: Iterable[ChatState] = ()
    ) -> Any:
        chats, users = self._entities(page, [st, *extra])
        if st.is_channel:
            return types.messages.ChannelMessages(
                pts=st.pts, count=count, messages=page, topics=[], chats=chats, users=users
            )
        if count > len(page):  # Telethon stops paging on plain messages.Messages
            return types.messages.MessagesSlice(
                count=count, messages=page, topics=[], chats=chats, users=users
            )
        return types.messages.Messages(messages=page, topics=[], chats=chats, users=users)

    def _h_get_history(self, r: Any) -> Any:
        target = self._peer(r.peer, r)
        if isinstance(target, types.User):  # private chats are not modelled: empty
            return types.messages.Messages(messages=[], topics=[], chats=[], users=[target])
        ids = self._page(target.ids, target.msgs, r)
        return self._messages_response(target, [target.msgs[i] for i in ids], len(target.ids))

    def _thread_location(self, r: Any) -> tuple[ChatState, ChatState, int]:
        """(peer state, state holding the thread, thread top id) for getReplies & co."""
        st = self._peer(r.peer, r)
        if isinstance(st, types.User) or st.kind == "chat":
            raise errors.PeerIdInvalidError(request=r)
        if st.kind == "channel":
            copy_id = st.post_thread.get(r.msg_id)
            if copy_id is None or r.msg_id not in st.msgs:
                raise errors.MsgIdInvalidError(request=r)
            group = self.chats[-(_CHANNEL_MARK + st.linked_chat_id)]
            if group.private:
                raise errors.ChannelPrivateError(request=r)
            return st, group, copy_id
        if r.msg_id not in st.msgs:
            raise errors.MsgIdInvalidError(request=r)
        return st, st, _thread_top(st.msgs[r.msg_id])

    def _h_get_replies(self, r: Any) -> Any:
        st, group, top = self._thread_location(r)
        thread = group.threads.get(top, [])
        ids = self._page(thread, group.msgs, r)
        return self._messages_response(
            group, [group.msgs[i] for i in ids], len(thread), extra=[st] if st is not group else ()
        )

    def _h_get_discussion_message(self, r: Any) -> types.messages.DiscussionMessage:
        st, group, top = self._thread_location(r)
        top_msg = group.msgs[top]
        thread = group.threads.get(top, [])
        chats, users = self._entities([top_msg], [group, st])
        max_id = thread[-1] if thread else None
        return types.messages.DiscussionMessage(
            messages=[top_msg],
            unread_count=0,
            chats=chats,
            users=users,
            max_id=max_id,
            read_inbox_max_id=max_id,
            read_outbox_max_id=max_id,
        )

    def _lookup_input_message(self, st: ChatState, inp: Any, r: Any) -> tuple[int, Any]:
        if isinstance(inp, types.InputMessageID):
            return inp.id, st.msgs.get(inp.id)
        if isinstance(inp, types.InputMessageReplyTo):
            src = st.msgs.get(inp.id)
            mid = src.reply_to.reply_to_msg_id if src is not None and src.reply_to else 0
            return mid, st.msgs.get(mid)
        if isinstance(inp, types.InputMessagePinned):
            mid = st.pinned_msg_id or 0
            return mid, st.msgs.get(mid)
        raise NotImplementedError(f"FakeTelegram: {type(inp).__name__} in {type(r).__name__}")

    def _h_channels_get_messages(self, r: Any) -> Any:
        st = self._channel(r.channel, r)
        out = []
        for inp in r.id:
            mid, msg = self._lookup_input_message(st, inp, r)
            out.append(msg if msg is not None else types.MessageEmpty(id=mid, peer_id=st.peer))
        return self._messages_response(st, out, len(out))

    def _h_messages_get_messages(self, r: Any) -> types.messages.Messages:
        out, owners = [], []
        for inp in r.id:
            if not isinstance(inp, types.InputMessageID):
                raise NotImplementedError(f"FakeTelegram: {type(inp).__name__} in GetMessages")
            st, msg = self._global_msgs.get(inp.id, (None, None))
            if msg is None:
                out.append(types.MessageEmpty(id=inp.id, peer_id=None))
            else:
                out.append(msg)
                owners.append(st)
        chats, users = self._entities(
            [m for m in out if not isinstance(m, types.MessageEmpty)], owners
        )
        return types.messages.Messages(messages=out, topics=[], chats=chats, users=users)

    def _h_get_messages_views(self, r: Any) -> types.messages.MessageViews:
        st = self._peer(r.peer, r)
        if isinstance(st, types.User):
            raise errors.PeerIdInvalidError(request=r)
        views = []
        shown = []
        for mid in r.id:
            msg = st.msgs.get(mid)
            if msg is None or isinstance(msg, types.MessageService):
                views.append(types.MessageViews())
                continue
            # A view is counted once per account, and only when increment is set.
            if r.increment and msg.views is not None and mid not in st.viewed:
                msg.views += 1
                st.viewed.add(mid)
            views.append(
                types.MessageViews(views=msg.views, forwards=msg.forwards, replies=msg.replies)
            )
            shown.append(msg)
        chats, users = self._entities(shown, [st])
        return types.messages.MessageViews(views=views, chats=chats, users=users)

    def _h_get_forum_topics(self, r: Any) -> types.messages.ForumTopics:
        st = self._peer(r.peer, r)
        if isinstance(st, types.User) or not st.forum:
            raise errors.ChannelForumMissingError(request=r)
        topic_ids = sorted(st.topics, reverse=True)
        if r.offset_topic:
            topic_ids = [t for t in topic_ids if t < r.offset_topic]
        topic_ids = topic_ids[: min(r.limit or DEFAULT_LIMIT, MAX_LIMIT)]
        topics, tops = [], []
        for tid in topic_ids:
            thread = st.threads.get(tid, [])
            top_message = thread[-1] if thread else tid
            created = st.msgs[tid]
            topics.append(
                types.ForumTopic(
                    id=tid,
                    date=created.date,
                    peer=st.peer,
                    title=st.topics[tid],
                    icon_color=created.action.icon_color,
                    top_message=top_message,
                    read_inbox_max_id=top_message,
                    read_outbox_max_id=top_message,
                    unread_count=0,
                    unread_mentions_count=0,
                    unread_reactions_count=0,
                    unread_poll_votes_count=0,
                    from_id=created.from_id or types.PeerUser(self.me.id),
                    notify_settings=types.PeerNotifySettings(),
                )
            )
            tops.append(st.msgs[top_message])
        chats, users = self._entities(tops, [st])
        return types.messages.ForumTopics(
            count=len(st.topics), topics=topics, messages=tops, chats=chats, users=users, pts=st.pts
        )

    # ------------------------------------------------------------------ login handlers

    def _phone_arg(self, phone: str, r: Any) -> str:
        normalized = _normalize_phone(phone)
        if not _PHONE_RE.match(normalized):
            raise errors.PhoneNumberInvalidError(request=r)
        return normalized

    def _pending_code(self, r: Any) -> _LoginCode:
        """The code behind (phone, phone_code_hash): Telegram ties it to the phone and to
        the auth key that asked for it, so signing in from another session (e.g. a fresh
        session instead of the saved one) finds it expired."""
        phone = self._phone_arg(r.phone_number, r)
        if not r.phone_code_hash:
            raise errors.PhoneCodeHashEmptyError(request=r)
        entry = self._login_codes.get(r.phone_code_hash)
        if (
            entry is None
            or entry.expired
            or entry.phone != phone
            or entry.auth_key_id != self._current.auth_key_id
        ):
            raise errors.PhoneCodeExpiredError(request=r)
        return entry

    def _sent_code(self, entry: _LoginCode, phone_code_hash: str, *, sms: bool) -> Any:
        self.last_code, self.last_phone_code_hash = entry.code, phone_code_hash
        if sms:
            kind: Any = types.auth.SentCodeTypeSms(length=len(entry.code))
            return types.auth.SentCode(type=kind, phone_code_hash=phone_code_hash)
        return types.auth.SentCode(
            type=types.auth.SentCodeTypeApp(length=len(entry.code)),
            phone_code_hash=phone_code_hash,
            next_type=types.auth.CodeTypeSms(),
            timeout=60,
        )

    def _h_send_code(self, r: Any) -> types.auth.SentCode:
        if r.api_id <= 0 or not _API_HASH_RE.match(r.api_hash):
            raise errors.ApiIdInvalidError(request=r)
        phone = self._phone_arg(r.phone_number, r)
        for entry in self._login_codes.values():  # a new code replaces the older ones
            if entry.phone == phone:
                entry.expired = True
        code = self.login_code or f"{self._rng.randrange(100_000):05d}"
        phone_code_hash = self._rng.randbytes(9).hex()
        entry = _LoginCode(phone, code, self._current.auth_key_id)
        self._login_codes[phone_code_hash] = entry
        # Registered accounts get the code in their Telegram apps, new numbers by SMS.
        return self._sent_code(entry, phone_code_hash, sms=phone != self.me.phone)

    def _h_resend_code(self, r: Any) -> types.auth.SentCode:
        entry = self._pending_code(r)
        return self._sent_code(entry, r.phone_code_hash, sms=True)

    def _h_cancel_code(self, r: Any) -> bool:
        self._pending_code(r).expired = True
        return True

    def _h_sign_in(self, r: Any) -> Any:
        if not r.phone_code:
            self._phone_arg(r.phone_number, r)
            raise errors.PhoneCodeEmptyError(request=r)
        entry = self._pending_code(r)
        if r.phone_code != entry.code:
            raise errors.PhoneCodeInvalidError(request=r)
        if entry.phone != self.me.phone:
            return types.auth.AuthorizationSignUpRequired()
        key = self._current.auth_key_id
        if self._password is not None:
            self._password_pending.add(key)
            raise errors.SessionPasswordNeededError(request=r)
        return self._login(key)

    def _require_password_step(self, r: Any) -> None:
        key = self._current.auth_key_id
        if not self._key_authorized(key) and key not in self._password_pending:
            raise errors.AuthKeyUnregisteredError(request=r)

    def _h_get_password(self, r: Any) -> types.account.Password:
        self._require_password_step(r)
        pw = self._password
        new_algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
            salt1=pw.salt1[:8] if pw else self._rng.randbytes(8),
            salt2=self._rng.randbytes(16),
            g=SRP_G,
            p=SRP_PRIME,
        )
        common: dict[str, Any] = {
            "new_algo": new_algo,
            "new_secure_algo": types.SecurePasswordKdfAlgoSHA512(salt=self._rng.randbytes(8)),
            "secure_random": self._rng.randbytes(32),
        }
        if pw is None:
            return types.account.Password(**common)
        # Fresh server secret b and B = k*v + g^b (mod p) for this attempt.
        p = int.from_bytes(SRP_PRIME, "big")
        k = int.from_bytes(_sha256(SRP_PRIME, _pad256(SRP_G)), "big")
        while True:
            b = self._rng.getrandbits(2048)
            g_b = pow(SRP_G, b, p)
            B = (k * pw.v + g_b) % p
            if _srp_good(g_b) and _srp_good(B):
                break
        pw.srp_id, pw.b, pw.B = self._rng.randrange(1, 2**63), b, B
        return types.account.Password(
            **common,
            has_password=True,
            current_algo=pw.algo,
            srp_B=_pad256(B),
            srp_id=pw.srp_id,
            hint=pw.hint,
        )

    def _h_check_password(self, r: Any) -> types.auth.Authorization:
        self._require_password_step(r)
        pw, check = self._password, r.password
        if pw is None or not isinstance(check, types.InputCheckPasswordSRP):
            raise errors.PasswordHashInvalidError(request=r)
        if pw.srp_id is None or check.srp_id != pw.srp_id:
            raise errors.SrpIdInvalidError(request=r)
        if not pw.check(check.A, check.M1):
            raise errors.PasswordHashInvalidError(request=r)
        return self._login(self._current.auth_key_id)

    def _h_log_out(self, r: Any) -> types.auth.LoggedOut:
        key = self._current.auth_key_id
        self.authorized_keys.discard(key)
        self._password_pending.discard(key)
        if self.strict_sessions:
            self._authorized = bool(self.authorized_keys)
        else:
            self.authorized = False
        return types.auth.LoggedOut()

    # ------------------------------------------------------------------ dialog handlers

    def _dialog_key(self, st: ChatState) -> tuple[int, int, int]:
        """Sort key of a dialog: date and id of its newest message (creation date when
        empty), then the peer as a tie-break."""
        top = st.msgs.get(st.top_id)
        return (_timestamp(top.date if top is not None else st.date), st.top_id, st.marked_id)

    def _dialog_list(self, folder_id: int | None, *, exclude_pinned: bool) -> list[ChatState]:
        states = [
            st
            for st in self.chats.values()
            if not st.left
            and not st.private
            and (folder_id is None or (st.folder_id or 0) == folder_id)
        ]
        pinned = sorted(
            (st for st in states if st.dialog_pin is not None),
            key=lambda st: st.dialog_pin or 0,
            reverse=True,
        )
        rest = sorted((st for st in states if st.dialog_pin is None), key=self._dialog_key)
        rest.reverse()
        return rest if exclude_pinned else pinned + rest

    def _dialog(self, target: ChatState | types.User) -> types.Dialog:
        if isinstance(target, types.User):  # private chats are not modelled: no messages
            peer: Any = types.PeerUser(target.id)
            top, pts, pinned, folder = 0, None, None, None
        else:
            peer, top = target.peer, target.top_id
            pts = target.pts if target.is_channel else None
            pinned = (target.dialog_pin is not None) or None
            folder = target.folder_id
        return types.Dialog(
            peer=peer,
            top_message=top,
            read_inbox_max_id=top,
            read_outbox_max_id=top,
            unread_count=0,
            unread_mentions_count=0,
            unread_reactions_count=0,
            unread_poll_votes_count=0,
            notify_settings=types.PeerNotifySettings(),
            pinned=pinned,
            pts=pts,
            folder_id=folder,
        )

    def _dialogs_payload(
        self, targets: list[ChatState | types.User]
    ) -> tuple[list[Any], list[Any], list[Any], list[types.User]]:
        """dialogs, their top messages and every chat/user those mention."""
        states = [t for t in targets if isinstance(t, ChatState)]
        tops = [st.msgs[st.top_id] for st in states if st.ids]
        chats, users = self._entities(tops, states)
        for t in targets:
            if isinstance(t, types.User) and all(u.id != t.id for u in users):
                users.append(t)
        return [self._dialog(t) for t in targets], tops, chats, users

    def _check_folder(self, folder_id: int | None, r: Any) -> None:
        if folder_id not in (None, 0, ARCHIVE_FOLDER):
            raise errors.FolderIdInvalidError(request=r)

    def _h_get_dialogs(self, r: Any) -> Any:
        """Pinned dialogs first (on the first page, unless exclude_pinned), then by newest
        message; a page after (offset_date, offset_id, offset_peer) holds the dialogs
        whose newest message is older than that (https://core.telegram.org/api/offsets)."""
        self._check_folder(r.folder_id, r)
        everything = self._dialog_list(r.folder_id, exclude_pinned=False)
        offset_ts = _timestamp(r.offset_date)
        paging = bool(
            offset_ts or r.offset_id or not isinstance(r.offset_peer, types.InputPeerEmpty)
        )
        if paging:
            bound: tuple[float, ...] = (offset_ts, r.offset_id, float("-inf"))
            if not isinstance(r.offset_peer, types.InputPeerEmpty):
                try:
                    peer_st = self._peer(r.offset_peer, r)
                except errors.RPCError:
                    raise errors.OffsetPeerIdInvalidError(request=r) from None
                if isinstance(peer_st, ChatState):
                    key = self._dialog_key(peer_st)
                    if key[:2] == (offset_ts, r.offset_id):
                        bound = key
            listing = [
                st for st in everything if st.dialog_pin is None and self._dialog_key(st) < bound
            ]
        else:
            listing = [
                st for st in everything if not (r.exclude_pinned and st.dialog_pin is not None)
            ]
        limit = min(r.limit if r.limit > 0 else DEFAULT_LIMIT, MAX_LIMIT)
        page: list[ChatState | types.User] = list(listing[:limit])
        dialogs, tops, chats, users = self._dialogs_payload(page)
        if len(page) == len(everything):  # everything fits: plain messages.Dialogs
            return types.messages.Dialogs(dialogs=dialogs, messages=tops, chats=chats, users=users)
        return types.messages.DialogsSlice(
            count=len(everything), dialogs=dialogs, messages=tops, chats=chats, users=users
        )

    def _h_get_peer_dialogs(self, r: Any) -> types.messages.PeerDialogs:
        targets: list[ChatState | types.User] = []
        for inp in r.peers:
            if not isinstance(inp, types.InputDialogPeer):
                raise NotImplementedError(f"FakeTelegram: {type(inp).__name__} in GetPeerDialogs")
            targets.append(self._peer(inp.peer, r))
        dialogs, tops, chats, users = self._dialogs_payload(targets)
        return types.messages.PeerDialogs(
            dialogs=dialogs, messages=tops, chats=chats, users=users, state=self._h_get_state(r)
        )

    def _h_get_pinned_dialogs(self, r: Any) -> types.messages.PeerDialogs:
        self._check_folder(r.folder_id, r)
        pinned: list[ChatState | types.User] = [
            st
            for st in self._dialog_list(r.folder_id, exclude_pinned=False)
            if st.dialog_pin is not None
        ]
        dialogs, tops, chats, users = self._dialogs_payload(pinned)
        return types.messages.PeerDialogs(
            dialogs=dialogs, messages=tops, chats=chats, users=users, state=self._h_get_state(r)
        )

    # ------------------------------------------------------------------ other handlers

    def _h_init_takeout(self, r: Any) -> types.account.Takeout:
        tid = self._rng.randrange(1, 2**63)
        self.takeouts.add(tid)
        return types.account.Takeout(id=tid)

    def _h_finish_takeout(self, r: Any) -> bool:
        tid = self._current.takeout_id
        if tid is None:
            raise errors.TakeoutRequiredError(request=r)
        self.takeouts.discard(tid)
        self.finished_takeouts.append((tid, bool(r.success)))
        return True

    def _h_get_file(self, r: Any) -> types.upload.File:
        loc = r.location
        if not isinstance(loc, (types.InputPhotoFileLocation, types.InputDocumentFileLocation)):
            raise NotImplementedError(f"FakeTelegram: download of {type(loc).__name__}")
        entry = self._files.get((loc.id, loc.thumb_size))
        if entry is None:
            raise errors.FileIdInvalidError(request=r)
        seed, size = entry
        data = random.Random(seed).randbytes(size)[r.offset : r.offset + r.limit]
        file_type = (
            types.storage.FileJpeg()
            if isinstance(loc, types.InputPhotoFileLocation)
            else types.storage.FileUnknown()
        )
        return types.upload.File(type=file_type, mtime=0, bytes=data)
