"""Why a source record (or a whole file) could not become events.

Every failure says where (the source column, and the contract field when there is one), which rule
it broke (a short stable id from RULES below) and what was expected — never the value itself: reasons
end up in dead letters, logs and terminals, and a value may be personal data.
"""

from __future__ import annotations

#: Every rule a dead letter, a refusal or a test-kit finding can name, with what it means. One place: the SDK, the
#: reference connectors and the docs use these ids.
RULES: dict[str, str] = {
    # reading a file
    "file.encoding": "the header row is not text in any supported encoding",
    "file.header_duplicate": "two header columns have the same name",
    "file.header_syntax": "the header row is not well-formed CSV (an unclosed quote, ...)",
    "file.header_missing": "the first row is data, not column names, or lacks columns the connector needs",
    "file.binary": "the file is not a text export (binary content)",
    "line.encoding": "the line is not valid in the file's encoding (nor in the other 8-bit Chinese encoding)",
    "line.too_long": "the line is longer than the reader's bound",
    "csv.quote": "a quoted value opened on this line does not close on it",
    "csv.syntax": "the line is not well-formed CSV (text after a closing quote, ...)",
    "csv.column_count": "the row has more or fewer columns than the header",
    "field.too_large": "a value is larger than the bound for one field",
    "json.syntax": "the line is not valid JSON",
    "json.not_object": "the line is JSON but not an object",
    "json.too_deep": "the JSON line nests deeper than the bound",
    "json.duplicate_key": "the JSON object names a key twice",
    # mapping a record
    "column.missing": "the export has no such column",
    "value.required": "the column is required but empty",
    "value.unknown": "the value is not one of the labels the connector knows for this column",
    "date.format": "the value is not a date in a known format",
    "date.impossible": "the date does not exist (e.g. 30 February)",
    "date.range": "the date is before 1900 or in the future",
    "number.format": "the value is not a number",
    "flag.format": "the value is not 是/否 (yes/no)",
    "division_code.format": "the value is not a 6-digit county division code (行政区划代码)",
    "party.incomplete": "a party has details but no name, or a record lacks a party it needs",
    "reference.missing": "the record must name another record it refers to",
    "record.invalid": "the connector rejected the record (see the reason)",
    "connector.error": "the connector's map() raised an unexpected exception (a bug in the connector)",
    # validating events
    "contract.type": "the mapped value does not fit the event's Avro contract",
    "id.format": "the identity number does not have the shape of a resident identity number",
    "id.birth_date": "the birth date inside the identity number is not a real date or disagrees with date_of_birth",
    "id.check_character": "the identity number's check character does not match (ISO 7064 MOD 11-2)",
    "phone.digits": "the phone number has too few or too many digits",
    # after validation
    "record.changed": "the record was published before with other content under the same record key and version",
    "protect.failed": "the privacy layer could not protect the record",
    "encode.failed": "the record could not be encoded in Avro",
    # the connector test kit (connectors/testing.py), on an integrator's sample exports
    "kit.clear_personal_value": "a personal value (by its column's name, its shape, or because the mapping "
                                "encrypts it elsewhere) appears in clear in the published bytes",
}


class RecordError(ValueError):
    """A source record is malformed: `field` says where (a source column, or a contract path such as
    `parties[0].id_number`), `rule` which rule it broke (see RULES), the message what was expected.
    `column` is the source column when it is known and differs from `field`."""

    def __init__(self, field: str, message: str, *, rule: str = "", column: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message
        self.rule = rule or "record.invalid"
        self.column = column


class SourceRefused(Exception):
    """A whole file cannot be read as an export (no usable header, duplicate columns, not text):
    nothing of it is published, and the message says why. Raised before the first record."""

    def __init__(self, source: str, reason: str, *, rule: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.rule = rule
