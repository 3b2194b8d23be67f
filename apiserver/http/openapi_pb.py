"""`/openapi/v2` as protobuf: the encoding kubectl 1.20 and every client-go before 1.27 ask for.

Sits beside `openapi` (which builds the Swagger 2.0 document as JSON) in the apiserver's HTTP front
end. client-go fetched `/openapi/v2` with `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
and decoded it as gnostic's `openapi.v2.Document`, without a JSON fallback: kubectl 1.20's `apply`
validation and `explain` fail without it.

The wire format is gnostic's schema, declared here with protobuf's own descriptor types (the
subset of messages a Swagger document of ours uses, with gnostic's field numbers), so protobuf
does the encoding. Vendor extensions travel as gnostic does them: `NamedAny{name, Any{yaml}}`,
the value written as YAML (JSON is YAML).
"""
from __future__ import annotations

import functools
import json
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# What the response says it is: kube-openapi answers with the dotted form, because `@` is no MIME token
# character and Go's mime.ParseMediaType (kubectl 1.20 reads the Content-Type) fails on MEDIA_TYPE with
# "mime: unexpected content after media subtype".
RESPONSE_MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

_T = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = _T.LABEL_OPTIONAL, _T.LABEL_REPEATED
_STR, _BOOL, _MSG = _T.TYPE_STRING, _T.TYPE_BOOL, _T.TYPE_MESSAGE

# message -> [(field, number, type, label, message type)], as gnostic's OpenAPIv2.proto numbers them.
_MESSAGES: dict[str, list[tuple[str, int, int, int, str]]] = {
    "Document": [("swagger", 1, _STR, _OPT, ""), ("info", 2, _MSG, _OPT, "Info"), ("paths", 8, _MSG, _OPT, "Paths"),
                 ("definitions", 9, _MSG, _OPT, "Definitions")],
    "Info": [("title", 1, _STR, _OPT, ""), ("version", 2, _STR, _OPT, "")],
    "Definitions": [("additional_properties", 1, _MSG, _REP, "NamedSchema")],
    "NamedSchema": [("name", 1, _STR, _OPT, ""), ("value", 2, _MSG, _OPT, "Schema")],
    "Schema": [("_ref", 1, _STR, _OPT, ""), ("format", 2, _STR, _OPT, ""), ("description", 4, _STR, _OPT, ""),
               ("required", 19, _STR, _REP, ""), ("additional_properties", 21, _MSG, _OPT, "AdditionalPropertiesItem"),
               ("type", 22, _MSG, _OPT, "TypeItem"), ("items", 23, _MSG, _OPT, "ItemsItem"),
               ("properties", 25, _MSG, _OPT, "Properties"), ("vendor_extension", 31, _MSG, _REP, "NamedAny")],
    "AdditionalPropertiesItem": [("schema", 1, _MSG, _OPT, "Schema"), ("boolean", 2, _BOOL, _OPT, "")],
    "TypeItem": [("value", 1, _STR, _REP, "")],
    "ItemsItem": [("schema", 1, _MSG, _REP, "Schema")],
    "Properties": [("additional_properties", 1, _MSG, _REP, "NamedSchema")],
    "NamedAny": [("name", 1, _STR, _OPT, ""), ("value", 2, _MSG, _OPT, "Any")],
    "Any": [("yaml", 2, _STR, _OPT, "")],
    "Paths": [("path", 2, _MSG, _REP, "NamedPathItem")],
    "NamedPathItem": [("name", 1, _STR, _OPT, ""), ("value", 2, _MSG, _OPT, "PathItem")],
    "PathItem": [("get", 2, _MSG, _OPT, "Operation"), ("put", 3, _MSG, _OPT, "Operation"),
                 ("post", 4, _MSG, _OPT, "Operation"), ("delete", 5, _MSG, _OPT, "Operation"),
                 ("patch", 8, _MSG, _OPT, "Operation"), ("parameters", 9, _MSG, _REP, "ParametersItem")],
    "Operation": [("description", 3, _STR, _OPT, ""), ("operation_id", 5, _STR, _OPT, ""),
                  ("produces", 6, _STR, _REP, ""), ("consumes", 7, _STR, _REP, ""),
                  ("parameters", 8, _MSG, _REP, "ParametersItem"), ("responses", 9, _MSG, _OPT, "Responses"),
                  ("vendor_extension", 13, _MSG, _REP, "NamedAny")],
    "ParametersItem": [("parameter", 1, _MSG, _OPT, "Parameter")],
    "Parameter": [("body_parameter", 1, _MSG, _OPT, "BodyParameter"),
                  ("non_body_parameter", 2, _MSG, _OPT, "NonBodyParameter")],
    "BodyParameter": [("description", 1, _STR, _OPT, ""), ("name", 2, _STR, _OPT, ""), ("in", 3, _STR, _OPT, ""),
                      ("required", 4, _BOOL, _OPT, ""), ("schema", 5, _MSG, _OPT, "Schema")],
    "NonBodyParameter": [("query_parameter_sub_schema", 3, _MSG, _OPT, "QueryParameterSubSchema"),
                         ("path_parameter_sub_schema", 4, _MSG, _OPT, "PathParameterSubSchema")],
    "QueryParameterSubSchema": [("required", 1, _BOOL, _OPT, ""), ("in", 2, _STR, _OPT, ""),
                                ("description", 3, _STR, _OPT, ""), ("name", 4, _STR, _OPT, ""),
                                ("type", 6, _STR, _OPT, ""), ("unique_items", 20, _BOOL, _OPT, "")],
    "PathParameterSubSchema": [("required", 1, _BOOL, _OPT, ""), ("in", 2, _STR, _OPT, ""),
                               ("description", 3, _STR, _OPT, ""), ("name", 4, _STR, _OPT, ""),
                               ("type", 5, _STR, _OPT, ""), ("unique_items", 19, _BOOL, _OPT, "")],
    "Responses": [("response_code", 1, _MSG, _REP, "NamedResponseValue")],
    "NamedResponseValue": [("name", 1, _STR, _OPT, ""), ("value", 2, _MSG, _OPT, "ResponseValue")],
    "ResponseValue": [("response", 1, _MSG, _OPT, "Response")],
    "Response": [("description", 1, _STR, _OPT, ""), ("schema", 2, _MSG, _OPT, "SchemaItem")],
    "SchemaItem": [("schema", 1, _MSG, _OPT, "Schema")],
}
# gnostic's oneofs: the fields of these messages are alternatives.
_ONEOFS = {"AdditionalPropertiesItem", "ParametersItem", "Parameter", "NonBodyParameter", "ResponseValue", "SchemaItem"}


@functools.lru_cache(maxsize=1)
def _classes() -> dict[str, Any]:
    f = descriptor_pb2.FileDescriptorProto(name="kubelab_gnostic_openapiv2.proto", package="openapi.v2",
                                           syntax="proto3")
    for name, fields in _MESSAGES.items():
        m = f.message_type.add(name=name)
        if name in _ONEOFS:
            m.oneof_decl.add(name="oneof")
        for fname, number, ftype, label, mtype in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if mtype:
                fd.type_name = f".openapi.v2.{mtype}"
            if name in _ONEOFS:
                fd.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"openapi.v2.{name}"))
            for name in _MESSAGES}


def _extensions(msg: Any, field: str, doc: dict[str, Any]) -> None:
    for key, value in doc.items():
        if key.startswith("x-"):
            ext = getattr(msg, field).add()
            ext.name = key
            ext.value.yaml = json.dumps(value)       # JSON is YAML; gnostic keeps the text


def _schema(msg: Any, doc: dict[str, Any]) -> None:
    if "$ref" in doc:
        msg._ref = doc["$ref"]
    for key in ("format", "description"):
        if key in doc:
            setattr(msg, key, doc[key])
    if "type" in doc:
        msg.type.value.append(doc["type"])
    msg.required.extend(doc.get("required", []))
    if "items" in doc:
        _schema(msg.items.schema.add(), doc["items"])
    if "additionalProperties" in doc:
        _schema(msg.additional_properties.schema, doc["additionalProperties"])
    for name, sub in doc.get("properties", {}).items():
        named = msg.properties.additional_properties.add()
        named.name = name
        _schema(named.value, sub)
    _extensions(msg, "vendor_extension", doc)


def _parameter(msg: Any, doc: dict[str, Any]) -> None:
    p = msg.parameter
    if doc["in"] == "body":
        b = p.body_parameter
        b.name, b.required = doc["name"], doc.get("required", False)
        setattr(b, "in", "body")
        _schema(b.schema, doc["schema"])
        return
    sub = p.non_body_parameter.query_parameter_sub_schema if doc["in"] == "query" \
        else p.non_body_parameter.path_parameter_sub_schema
    sub.name, sub.type, sub.description = doc["name"], doc.get("type", "string"), doc.get("description", "")
    sub.required, sub.unique_items = doc.get("required", False), doc.get("uniqueItems", False)
    setattr(sub, "in", doc["in"])


def _operation(msg: Any, doc: dict[str, Any]) -> None:
    msg.description, msg.operation_id = doc.get("description", ""), doc.get("operationId", "")
    msg.produces.extend(doc.get("produces", []))
    msg.consumes.extend(doc.get("consumes", []))
    for p in doc.get("parameters", []):
        _parameter(msg.parameters.add(), p)
    for code, resp in doc.get("responses", {}).items():
        named = msg.responses.response_code.add()
        named.name = code
        named.value.response.description = resp.get("description", "")
        if "schema" in resp:
            _schema(named.value.response.schema.schema, resp["schema"])
    _extensions(msg, "vendor_extension", doc)


def encode(swagger: dict[str, Any]) -> bytes:
    """A Swagger 2.0 document (as `openapi` builds it) in gnostic's protobuf encoding."""
    c = _classes()
    doc = c["Document"]()
    doc.swagger = swagger["swagger"]
    doc.info.title, doc.info.version = swagger["info"]["title"], swagger["info"]["version"]
    for path, item in swagger.get("paths", {}).items():
        named = doc.paths.path.add()
        named.name = path
        for method, op in item.items():
            if method == "parameters":
                for p in op:
                    _parameter(named.value.parameters.add(), p)
            else:
                _operation(getattr(named.value, method), op)
    for name, schema in swagger.get("definitions", {}).items():
        named = doc.definitions.additional_properties.add()
        named.name = name
        _schema(named.value, schema)
    return doc.SerializeToString()

