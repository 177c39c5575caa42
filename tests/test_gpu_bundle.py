"""The GPU bundle: a slim corpus that trains exactly like the full one."""

import tarfile

from training.gpu.bundle import bundle
from training.lm.data import read_records


def test_bundle_keeps_every_record_and_the_fields_training_reads(tmp_path, prepared_corpus):
    target = tmp_path / "corpus.tar.xz"
    bundle(prepared_corpus, target)
    assert not target.with_name("corpus.tar.xz.part").exists()
    with tarfile.open(target) as tar:
        tar.extractall(tmp_path / "out", filter="data")
        names = set(tar.getnames())
    assert {"corpus/train.jsonl", "corpus/val.jsonl", "corpus/cipai.json"} <= names
    for split in ("train", "val", "test"):
        full = read_records(prepared_corpus, split)
        slim = read_records(tmp_path / "out" / "corpus", split)
        assert len(slim) == len(full) > 0
        for a, b in zip(full, slim, strict=True):
            assert {k: a[k] for k in ("title", "form", "tune", "text")} == {
                k: b[k] for k in ("title", "form", "tune", "text")
            }
