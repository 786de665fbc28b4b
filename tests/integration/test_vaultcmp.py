"""The comparison helper itself: it must catch what matters and forgive ids and times."""

import pytest

from vaultcmp import assert_same, diff


def test_identical_documents_have_no_difference():
    doc = {"data": {"data": {"a": "b"}, "metadata": {"version": 1}}, "warnings": None}
    assert diff(doc, doc) == []


def test_ids_and_times_differ_only_by_emptiness():
    a = {"request_id": "x", "data": {"created_time": "2024-01-01T00:00:00Z", "deletion_time": ""}}
    b = {"request_id": "y", "data": {"created_time": "2025-02-02T00:00:00Z", "deletion_time": ""}}
    assert diff(a, b) == []
    deleted = {"request_id": "y", "data": {"created_time": "2025", "deletion_time": "2025-02-02T00:00:00Z"}}
    problems = diff(a, deleted)
    assert problems == ['data.deletion_time: mainkey="" openbao="<set>"']


def test_missing_and_extra_keys_are_named_with_their_path():
    a = {"data": {"metadata": {"version": 1, "extra": True}}}
    b = {"data": {"metadata": {"version": 1, "destroyed": False}}}
    problems = diff(a, b)
    assert "data.metadata.destroyed: missing in mainkey (openbao has false)" in problems
    assert "data.metadata.extra: extra in mainkey (true), absent in openbao" in problems
    assert len(problems) == 2


def test_values_and_types_are_compared():
    assert diff({"v": 1}, {"v": 2}) == ["v: mainkey=1 openbao=2"]
    assert diff({"v": 1}, {"v": "1"}) != []
    assert diff({"v": True}, {"v": 1}) != []
    assert diff({"v": None}, {"v": {}}) != []
    assert diff({"v": 1}, {"v": 1.0}) == []


def test_lists_are_compared_item_by_item():
    assert diff(["a", "b"], ["a", "b"]) == []
    assert diff(["a", "b"], ["b", "a"]) != []
    problems = diff({"keys": ["a"]}, {"keys": ["a", "b"]})
    assert len(problems) == 1 and "list length 1 in mainkey vs 2 in openbao" in problems[0]


def test_ignore_patterns_keep_presence_but_skip_values():
    a = {"data": {"secret/": {"description": "", "type": "kv"}}}
    b = {"data": {"secret/": {"description": "key/value secret storage", "type": "kv"}}}
    assert diff(a, b, ignore=["data.*.description"]) == []
    # still required to be present
    c = {"data": {"secret/": {"type": "kv"}}}
    assert diff(c, b, ignore=["data.*.description"]) != []
    # "!" drops the key entirely
    assert diff(c, b, ignore=["!data.*.description"]) == []


def test_assert_same_message_lists_every_difference():
    with pytest.raises(AssertionError) as err:
        assert_same({"a": 1, "b": 2}, {"a": 2, "c": 3}, what="kv get")
    msg = str(err.value)
    assert "kv get differ (3 difference(s))" in msg
    assert "a: mainkey=1 openbao=2" in msg
    assert "b: extra in mainkey" in msg
    assert "c: missing in mainkey" in msg


def test_build_facts_must_be_present_with_any_value():
    a = {"commit_date": "", "running_plugin_version": "v0.1.0+builtin.mainkey"}
    b = {"commit_date": "2026-10-26T20:32:27Z", "running_plugin_version": "v2.7.2+builtin.bao"}
    assert diff(a, b) == []
    assert diff({}, b) != []
    # An exact comparison (volatile=()) compares them too.
    assert diff(a, b, volatile=()) != []
