"""Cross-agency person resolution on protected data (blind indexes and CLKs only); see README.md."""

from streams.identity.compare import Explanation, Scorer
from streams.identity.config import ConfigError, MatchConfig, load_config
from streams.identity.processor import IdentityProcessor
from streams.identity.profile import Profile, from_protection

__all__ = ["ConfigError", "Explanation", "IdentityProcessor", "MatchConfig", "Profile", "Scorer",
           "from_protection", "load_config"]
