"""Manifests and JSON bodies are read strictly, as kubectl and kube-apiserver read them (issue 12 items 7, 8):
a key given twice is an error, not the last one winning; an escaped emoji is a character."""
from __future__ import annotations

import json

import pytest

from apiserver.store import load_json
from kubectl import printers
from kubelab import errors, manifests

POD = '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {"e": %s}}, ' \
      '"spec": {"containers": [{"name": "c", "image": "i"}]}}'


@pytest.mark.parametrize("text,message", [
    pytest.param("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nkind: Service\n",
                 'invalid YAML (line 4, column 1): mapping key "kind" already defined at line 2', id="yaml-top"),
    pytest.param("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {a: x, a: y}\n",
                 'mapping key "a" already defined at line 5', id="yaml-nested"),
    pytest.param('{"apiVersion": "v1",\n "kind": "Pod",\n "metadata": {"name": "p"},\n "kind": "Service"}',
                 'invalid YAML (line 4, column 2): mapping key "kind" already defined at line 2', id="json"),
])
def test_a_key_given_twice_is_refused(text: str, message: str) -> None:
    with pytest.raises(manifests.ManifestError) as e:
        manifests.parse_text(text, "bad.yaml")
    assert str(e.value).startswith("bad.yaml: ") and message in str(e.value)


def test_a_merge_key_may_be_overridden() -> None:
    """`<<: *base` then the same key is YAML's way to override a merged value, not a duplicate."""
    text = ("base: &b {name: x}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  <<: {name: from-merge}\n"
            "  name: p\nspec: {containers: [{name: c, image: i}]}\n")
    docs = manifests.parse_text(text.split("---\n", 1)[1], "t.yaml")
    assert docs[0].obj.metadata.name == "p"


@pytest.mark.parametrize("escaped,char", [
    (r'"\ud83d\ude00"', "\U0001F600"),        # a surrogate pair: one character outside the BMP
    (r'"\u00e9t\u00e9"', "été"),
    (r'"x\ud83dy"', "x\ufffdy"),               # unpaired: U+FFFD, as Go's encoding/json reads it
])
def test_escaped_characters_load_and_round_trip(escaped: str, char: str) -> None:
    [doc] = manifests.parse_text(POD % escaped, "pod.json")
    assert doc.obj.metadata.annotations["e"] == char
    doc.obj.SerializeToString()              # protobuf takes it (it refused lone surrogates)
    again = manifests.dump_json(manifests.to_dict(doc.obj))
    [back] = manifests.parse_text(again, "again.json")
    assert back.obj == doc.obj
    [from_yaml] = manifests.parse_text(printers.dump_yaml(manifests.to_dict(doc.obj)), "again.yaml")
    assert from_yaml.obj == doc.obj


def test_server_json_bodies_refuse_duplicate_fields() -> None:
    with pytest.raises(errors.BadRequest) as e:
        load_json(b'{"spec": {"replicas": 1, "replicas": 5}}', "invalid JSON patch")
    assert e.value.message == 'invalid JSON patch: duplicate field "replicas"'


def test_server_json_bodies_take_escaped_emoji() -> None:
    assert load_json(json.dumps({"a": ["\U0001F600"]}).encode(), "patch") == {"a": ["\U0001F600"]}
    assert load_json(rb'{"a": "\ud83d"}', "patch") == {"a": "\ufffd"}
