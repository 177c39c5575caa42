"""The splitter: a body alone decides its split, always the same one."""

from hypothesis import given
from hypothesis import strategies as st

from training.corpus.split import SPLITS, bucket, split_of

bodies = st.text(min_size=1, max_size=80)


@given(bodies)
def test_a_body_maps_to_exactly_one_split_every_time(body):
    first = split_of(body)
    assert first in SPLITS
    assert [split_of(body) for _ in range(3)] == [first] * 3
    assert [name for name in SPLITS if split_of(body) == name] == [first]


@given(bodies)
def test_the_split_follows_the_bucket(body):
    b = bucket(body)
    assert 0 <= b < 100
    assert split_of(body) == ("train" if b < 98 else "val" if b == 98 else "test")


def test_buckets_spread_roughly_98_1_1():
    names = [split_of(f"第{i}首，春风又绿江南岸。") for i in range(20000)]
    assert 0.97 < names.count("train") / len(names) < 0.99
    assert 100 < names.count("val") < 300 and 100 < names.count("test") < 300
