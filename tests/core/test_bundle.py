"""The model bundle: what it holds, that it reloads to identical outputs, and one clear error for a
folder that is not a bundle, is damaged, or was made for another schema."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pandas as pd
import pytest
import torch

from core import TableModel
from core.bundle import FILES, FORMAT, read_bundle
from core.errors import DataError
from core.schema import Schema
from core.synthetic import make_synthetic


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[TableModel, pd.DataFrame, object]:
    table, schema = make_synthetic(400, seed=2, missing_rate=0.1)
    model = TableModel(epochs=4, seed=1).fit(table, method="pcgrad", schema=schema)
    folder = model.save(tmp_path_factory.mktemp("bundle") / "model")
    return model, table, folder


def test_the_bundle_holds_config_schema_statistics_weights_and_versions(saved):
    model, _, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    header = json.loads((folder / "bundle.json").read_text())
    assert header["format"] == FORMAT and header["format_version"] == 1
    assert header["config"]["method"] == "pcgrad" and header["config"]["seed"] == 1
    assert header["sampler"] == "mixture" and header["info"]["method"] == "pcgrad"
    assert set(header["versions"]) == {"overlook", "python", "torch", "numpy", "pandas"}
    assert Schema.from_json((folder / "schema.json").read_text()) == model.schema
    statistics = json.loads((folder / "encoder.json").read_text())
    assert [f["name"] for f in statistics["features"]] == [c.name for c in model.schema.features]
    assert len(statistics["center"]) == len(statistics["scale"]) == len(model.schema.features)
    weights = torch.load(folder / "weights.pt", weights_only=True)
    assert set(weights) == {"network", "mixture", "bounds"}
    assert set(weights["mixture"]) == {"weights", "means", "variances"}
    assert weights["bounds"].shape == (len(model.schema.features), 2)


def test_save_then_load_gives_identical_outputs(saved):
    model, table, folder = saved
    loaded = TableModel.load(folder)
    assert loaded.schema == model.schema and loaded.method == model.method
    pd.testing.assert_frame_equal(loaded.sample(300, seed=5), model.sample(300, seed=5))
    pd.testing.assert_frame_equal(loaded.sample(50, seed=5, sampler="prior"), model.sample(50, seed=5, sampler="prior"))
    pd.testing.assert_frame_equal(loaded.impute(table), model.impute(table))
    pd.testing.assert_frame_equal(loaded.reconstruct(table), model.reconstruct(table))
    assert loaded.evaluate(table).mean_error == model.evaluate(table).mean_error
    again = loaded.save(folder.parent / "again")
    for name in ("schema.json", "encoder.json"):
        assert (again / name).read_text() == (folder / name).read_text()


def _excluding(schema: Schema, name: str) -> Schema:
    return schema.replace_column(replace(schema[name], excluded=True))


def _copy(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_a_folder_that_is_not_a_bundle(saved, tmp_path):
    _, _, folder = saved
    with pytest.raises(DataError, match="not a folder"):
        read_bundle(tmp_path / "nowhere")
    copy = _copy(folder, tmp_path)
    (copy / "weights.pt").unlink()
    with pytest.raises(DataError, match=r"weights\.pt is missing"):
        read_bundle(copy)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "bundle.json").write_text("{not json"), "bundle.json in the bundle is not valid JSON"),
        (lambda f: (f / "bundle.json").write_text('{"format": "other"}'), "is not an overlook model bundle"),
        (lambda f: (f / "weights.pt").write_bytes(b"garbage"), "weights.pt in the bundle cannot be read"),
        (lambda f: (f / "encoder.json").write_text('{"features": []}'), "encoder.json in the bundle is damaged"),
    ],
)
def test_a_damaged_bundle_is_one_data_error(saved, tmp_path, damage, message):
    copy = _copy(saved[2], tmp_path)
    damage(copy)
    with pytest.raises(DataError, match=message):
        read_bundle(copy)


def test_a_bundle_for_another_schema_is_refused(saved, tmp_path):
    model, _, folder = saved
    copy = _copy(folder, tmp_path)
    other = _excluding(model.schema, "ordinal")
    (copy / "schema.json").write_text(other.to_json())
    with pytest.raises(DataError, match="different schema"):
        read_bundle(copy)

    # Consistent schema and statistics, but weights trained for other columns.
    smaller = _copy(folder, tmp_path / "b")
    _, narrow_schema = make_synthetic(400, seed=2)
    narrow = TableModel(epochs=1).fit(
        make_synthetic(400, seed=2)[0], method="none", schema=_excluding(narrow_schema, "categorical")
    )
    narrow_folder = narrow.save(tmp_path / "narrow")
    shutil.copy(narrow_folder / "weights.pt", smaller / "weights.pt")
    with pytest.raises(DataError, match="weights do not fit"):
        read_bundle(smaller)
