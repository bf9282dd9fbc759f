"""The peers of bench_febrl, each run as its own process on the same resolve-contract CSV:

    python -m benchmarks.febrl_peers splink|recordlinkage INPUT.csv OUTPUT.csv

Both read the CSV with pandas, split the name into given name (first word) and surname (last word)
and take the postcode (the last number of the address) apart — what their FEBRL examples compare —
then learn their weights without labels (Splink: u by random sampling, m by EM per blocking rule;
recordlinkage: the ECM classifier on binary features), and write record_id,person_id with persons as
the connected components of the pairs they classify as matches. FEBRL4 (sources a and b) is linked
between the two files, deduplicated otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _frame(path: Path):  # noqa: ANN202 - pandas is a benchmark extra
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    words = df["name"].str.split()
    df["given"] = words.map(lambda w: w[0] if len(w) > 1 else "")
    df["surname"] = words.map(lambda w: w[-1] if w else "")
    df["postcode"] = df["address"].str.extract(r"(\d{4})\s*$", expand=False).fillna("")
    df["street"] = df["address"].str.split(",").str[0].fillna("")
    for column in ("given", "surname", "postcode", "street", "date_of_birth", "id_number", "address"):
        df[column] = df[column].replace("", None)
    return df


def _components(record_ids: list[str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    parent = {r: r for r in record_ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {r: find(r) for r in record_ids}


def _write(path: Path, clusters: dict[str, str]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("record_id,person_id\n")
        handle.writelines(f"{r},{p}\n" for r, p in clusters.items())


def run_splink(source: Path, target: Path) -> None:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    df = _frame(source).rename(columns={"record_id": "unique_id"})
    link = set(df["source"]) == {"a", "b"}
    db = DuckDBAPI()
    tables = ([db.register(df[df["source"] == s].reset_index(drop=True)) for s in ("a", "b")] if link
              else db.register(df))
    settings = SettingsCreator(
        link_type="link_only" if link else "dedupe_only",
        comparisons=[cl.NameComparison("given"), cl.NameComparison("surname"),
                     cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
                     cl.LevenshteinAtThresholds("id_number", [1, 2]),
                     cl.LevenshteinAtThresholds("street", [1, 3]), cl.ExactMatch("postcode")],
        blocking_rules_to_generate_predictions=[block_on("given"), block_on("surname"), block_on("date_of_birth"),
                                                block_on("id_number"), block_on("postcode")],
    )
    linker = Linker(tables, settings, log_level=40)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given", "surname"), block_on("date_of_birth", "id_number")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    predictions = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    pairs = list(zip(predictions["unique_id_l"], predictions["unique_id_r"], strict=True))
    _write(target, _components(list(df["unique_id"]), pairs))


def run_recordlinkage(source: Path, target: Path) -> None:
    import recordlinkage as rl

    df = _frame(source).set_index("record_id")
    link = set(df["source"]) == {"a", "b"}
    frames = (df[df["source"] == "a"], df[df["source"] == "b"]) if link else (df,)
    candidates = None
    for column in ("given", "surname", "date_of_birth", "id_number", "postcode"):
        indexer = rl.Index()
        indexer.block(column)
        found = indexer.index(*frames)
        candidates = found if candidates is None else candidates.union(found)
    compare = rl.Compare()
    compare.string("given", "given", method="jarowinkler", threshold=0.85, label="given")
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    compare.exact("id_number", "id_number", label="id_number")
    compare.string("street", "street", method="jarowinkler", threshold=0.85, label="street")
    compare.exact("postcode", "postcode", label="postcode")
    features = compare.compute(candidates, *frames)
    matches = rl.ECMClassifier(binarize=None).fit_predict(features)
    pairs = [(str(a), str(b)) for a, b in matches]
    _write(target, _components(list(df.index), pairs))


def main(argv: list[str]) -> None:
    system, source, target = argv
    {"splink": run_splink, "recordlinkage": run_recordlinkage}[system](Path(source), Path(target))


if __name__ == "__main__":
    main(sys.argv[1:])
