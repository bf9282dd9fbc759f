"""Risk early warning: rules as data (rules.toml), evaluated on resolved events (README.md)."""

from streams.alerts.lifecycle import AlertStateError, acknowledge, active_alerts, resolve
from streams.alerts.processor import AlertsProcessor
from streams.alerts.rules import DEFAULT_RULES_PATH, RulesError, RuleSet, load_rules, parse_rules

__all__ = ["DEFAULT_RULES_PATH", "AlertStateError", "AlertsProcessor", "RuleSet", "RulesError", "acknowledge",
           "active_alerts", "load_rules", "parse_rules", "resolve"]
