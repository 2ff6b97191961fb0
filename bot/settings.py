"""The core's typed, frozen settings, read once at start-up from a config `Section`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Secret, Section, root_section
from bot.errors import ConfigError
from bot.feature_settings import KnowledgeSettings, ToolSettings, knowledge_settings, tool_settings
from bot.operator import OperatorSettings, operator_settings


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Where to listen and how much to accept."""

    host: str = "0.0.0.0"
    port: int = 8080
    max_body_bytes: int = 1 << 20
    uvloop: bool = True  # serve on uvloop's event loop when it is installed


@dataclass(frozen=True, slots=True)
class LLMSettings:
    """The OpenAI-compatible endpoint and how to call it."""

    api_key: Secret = field(default_factory=Secret)
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    temperature: float = 0.7
    max_tokens: int | None = None
    timeout: float = 60.0
    connect_timeout: float = 10.0
    max_retries: int = 2
    max_concurrency: int = 256
    vision: str = "auto"  # auto: send pictures until the endpoint says the model takes none
    models: tuple[str, ...] = ()
    image_model: str = "gpt-image-1"
    image_size: str = "1024x1024"
    transcribe_model: str = "whisper-1"
    speech_model: str = "tts-1"
    voice: str = "alloy"

    @property
    def pictures(self) -> bool:
        """Whether pictures may go to the model at all (`auto` or `true`)."""
        return self.vision != "false"


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Redis when a URL is given, in-process memory otherwise."""

    redis_url: Secret = field(default_factory=Secret)
    key_prefix: str = "imbot:"
    job_claim_idle: float = 60.0  # a job silent this long (its worker died) goes to another instance
    job_concurrency: int = 1024  # jobs running at once per instance (most of them only wait)
    max_connections: int = 64  # per instance, for commands (per node on a cluster)
    job_connections: int = 16  # per instance, for the job queue's commands (and 1 reader)
    replica_acks: int | None = None  # replicas a critical write waits for; None: 1 on Sentinel
    replica_wait: float = 0.5  # seconds a write waits for them before it counts as failed


@dataclass(frozen=True, slots=True)
class HistorySettings:
    """How much conversation the model sees and how long it is kept."""

    max_turns: int = 20
    max_chars: int = 12000
    ttl_seconds: int = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """Abuse controls; 0 disables a limit. Allow-lists are per platform (empty = everyone)."""

    per_minute: int = 20
    per_day: int = 500
    tokens_per_user: int = 0  # tokens (in + out) per user per UTC day; 0 = no quota
    tokens_per_chat: int = 0  # the same per chat (a group, or a direct chat)
    allow: Mapping[str, frozenset[str]] = field(default_factory=dict)
    block: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModerationSettings:
    """Content safety: which providers judge the text, and what happens to flagged text."""

    words_file: Path | None = None
    openai: bool = False
    openai_model: str = "omni-moderation-latest"
    http_url: str = ""
    http_token: Secret = field(default_factory=Secret)
    input: str = "refuse"  # refuse | off
    output: str = "mask"  # mask | refuse | off
    on_error: str = "open"  # open | closed
    relay: bool = False
    timeout: float = 5.0
    refresh_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the core needs; adapters read their own sections from `section` (handed to
    them as `Services.config`)."""

    section: Section
    server: ServerSettings
    llm: LLMSettings
    storage: StorageSettings
    history: HistorySettings
    limits: LimitSettings
    moderation: ModerationSettings
    max_input_chars: int
    prompts_dir: Path
    default_prompt: str
    texts: Mapping[str, str]
    log_level: str
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    tools: ToolSettings = field(default_factory=ToolSettings)
    operator: OperatorSettings = field(default_factory=OperatorSettings)
    voice_reply: str = "auto"  # auto: a voice message is answered with voice too | always | never
    image_edit_window: float = 600.0  # seconds a user's picture stays available to /image edits


def _llm(s: Section) -> LLMSettings:
    max_tokens = s.integer("max_tokens", 0, minimum=0)
    return LLMSettings(
        api_key=s.secret("api_key", env="OPENAI_API_KEY"),
        base_url=s.url("base_url", "https://api.openai.com/v1", env="OPENAI_BASE_URL"),
        model=s.text("model", "gpt-4o-mini", env="OPENAI_MODEL"),
        temperature=s.number("temperature", 0.7),
        max_tokens=max_tokens or None,
        timeout=s.number("timeout", 60.0, minimum=0.1),
        connect_timeout=s.number("connect_timeout", 10.0, minimum=0.1),
        max_retries=s.integer("max_retries", 2, minimum=0),
        max_concurrency=s.integer("max_concurrency", 256, minimum=1),
        vision=_vision(s),
        models=s.strings("models"),
        image_model=s.text("image_model", "gpt-image-1"),
        image_size=s.text("image_size", "1024x1024"),
        transcribe_model=s.text("transcribe_model", "whisper-1"),
        speech_model=s.text("speech_model", "tts-1"),
        voice=s.text("voice", "alloy"),
    )


def _vision(s: Section) -> str:
    """`auto`, or a yes/no flag (YAML's true/false, on/off...) as "true"/"false"."""
    value, where = s.raw("vision")
    if value is None or value == "" or str(value).strip().lower() == "auto":
        return "auto"
    try:
        return "true" if s.flag("vision", False) else "false"
    except ConfigError:
        raise ConfigError(f"{where}: expected auto, true or false, got {value!r}") from None


def _user_lists(s: Section) -> Mapping[str, frozenset[str]]:
    """`{platform: [user ids]}`."""
    return {platform: frozenset(s.strings(platform)) for platform in s.names()}


def _limits(s: Section) -> LimitSettings:
    return LimitSettings(
        per_minute=s.integer("per_user_per_minute", 20, minimum=0),
        per_day=s.integer("per_user_per_day", 500, minimum=0),
        tokens_per_user=s.integer("tokens_per_user_per_day", 0, minimum=0),
        tokens_per_chat=s.integer("tokens_per_chat_per_day", 0, minimum=0),
        allow=_user_lists(s.section("allow")),
        block=_user_lists(s.section("block")),
    )


def _moderation(s: Section) -> ModerationSettings:
    words = s.text("words_file", "", env="MODERATION_WORDS_FILE")
    return ModerationSettings(
        words_file=Path(words) if words else None,
        openai=s.flag("openai", False, env="MODERATION_OPENAI"),
        openai_model=s.text("openai_model", "omni-moderation-latest"),
        http_url=s.url("http_url", "", env="MODERATION_HTTP_URL"),
        http_token=s.secret("http_token", env="MODERATION_HTTP_TOKEN"),
        input=s.choice("input", "refuse", ("refuse", "off")),
        output=s.choice("output", "mask", ("mask", "refuse", "off")),
        on_error=s.choice("on_error", "open", ("open", "closed")),
        relay=s.flag("relay", False),
        timeout=s.number("timeout", 5.0, minimum=0.1),
        refresh_seconds=s.number("refresh_seconds", 2.0, minimum=0.1),
    )


def from_section(root: Section) -> Settings:
    """Build the typed settings; raises ConfigError naming the first bad key."""
    server, storage, history = root.section("server"), root.section("storage"), root.section("history")
    prompts = root.section("prompts")
    return Settings(
        section=root,
        server=ServerSettings(
            host=server.text("host", "0.0.0.0", env="BOT_HOST"),
            port=server.integer("port", 8080, env="BOT_PORT", minimum=0),
            max_body_bytes=server.integer("max_body_bytes", 1 << 20, minimum=1024),
            uvloop=server.flag("uvloop", True, env="BOT_UVLOOP"),
        ),
        llm=_llm(root.section("llm")),
        storage=StorageSettings(
            redis_url=storage.secret("redis_url", env="REDIS_URL"),
            key_prefix=storage.text("key_prefix", "imbot:"),
            job_claim_idle=storage.number("job_claim_idle", 60.0, minimum=0.5),
            job_concurrency=storage.integer("job_concurrency", 1024, minimum=1),
            max_connections=storage.integer("max_connections", 64, minimum=4),
            job_connections=storage.integer("job_connections", 16, minimum=2),
            replica_acks=(None if storage.text("replica_acks", "auto") == "auto"
                          else storage.integer("replica_acks", 0, minimum=0)),
            replica_wait=storage.number("replica_wait", 0.5, minimum=0.001),
        ),
        history=HistorySettings(
            max_turns=history.integer("max_turns", 20, minimum=0),
            max_chars=history.integer("max_chars", 12000, minimum=0),
            ttl_seconds=history.integer("ttl_seconds", 7 * 24 * 3600, minimum=60),
        ),
        limits=_limits(root.section("limits")),
        moderation=_moderation(root.section("moderation")),
        max_input_chars=root.section("input").integer("max_chars", 4000, minimum=1),
        prompts_dir=Path(prompts.text("dir", "prompts")),
        default_prompt=prompts.text("default", "assistant"),
        texts=root.mapping("texts"),
        log_level=root.section("log").choice(
            "level", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"), env="BOT_LOG_LEVEL"
        ),
        knowledge=knowledge_settings(root.section("knowledge")),
        tools=tool_settings(root.section("tools")),
        operator=operator_settings(root),
        voice_reply=root.choice("voice_reply", "auto", ("auto", "always", "never")),
        image_edit_window=root.number("image_edit_window", 600.0, minimum=0.0),
    )


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read `config.yaml` (or `path`) plus the environment into `Settings`."""
    return from_section(root_section(path, env))
