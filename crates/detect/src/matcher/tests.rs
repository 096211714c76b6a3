//! One test per modifier and value form: a selection of one item applied to the values of a
//! field of a JSON event (through the same path walk the lake's JSON columns use).

use super::*;
use crate::value::json_path;

/// Does `item` (`field|mods: value(s)` in YAML) match the event `json`?
fn m(item: &str, json: &str) -> bool {
    let yaml = format!(
        "title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    {item}\n  condition: sel\n"
    );
    let mut c = rsigma_parser::parse_sigma_yaml(&yaml).unwrap();
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let rule = c.rules.remove(0);
    let rsigma_parser::Detection::AllOf(items) = &rule.detection.named["sel"] else {
        panic!("one selection map")
    };
    let it = compile_item(&items[0]).unwrap();
    let path = |f: &str| f.split('.').map(String::from).collect::<Vec<_>>();
    let field = items[0].field.name.clone().unwrap();
    let values = json_path(json, &path(&field));
    let other = it
        .fieldref
        .as_deref()
        .and_then(|f| json_path(json, &path(f)));
    it.test.matches(&values, &other)
}

fn err(item: &str) -> String {
    let yaml = format!(
        "title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    {item}\n  condition: sel\n"
    );
    let mut c = rsigma_parser::parse_sigma_yaml(&yaml).unwrap();
    let rule = c.rules.remove(0);
    let rsigma_parser::Detection::AllOf(items) = &rule.detection.named["sel"] else {
        panic!("one selection map")
    };
    compile_item(&items[0]).unwrap_err()
}

#[test]
fn equality_is_case_insensitive_unless_cased() {
    assert!(m("a: AbC", r#"{"a":"abc"}"#));
    assert!(m("a: 'ÄBC'", r#"{"a":"äbc"}"#));
    assert!(!m("a: AbC", r#"{"a":"abcd"}"#));
    assert!(m("a|cased: AbC", r#"{"a":"AbC"}"#));
    assert!(!m("a|cased: AbC", r#"{"a":"abc"}"#));
}

#[test]
fn value_lists_or_and_all() {
    assert!(m("a: [x, y]", r#"{"a":"Y"}"#));
    assert!(!m("a: [x, y]", r#"{"a":"z"}"#));
    assert!(m("a|contains|all: [foo, bar]", r#"{"a":"xbarxfoo"}"#));
    assert!(!m("a|contains|all: [foo, bar]", r#"{"a":"xbarx"}"#));
}

#[test]
fn wildcards_and_escapes() {
    assert!(m("a: 'ab*'", r#"{"a":"ABcdef"}"#));
    assert!(m("a: 'a?c'", r#"{"a":"abc"}"#));
    assert!(!m("a: 'a?c'", r#"{"a":"abbc"}"#));
    assert!(m("a: '*'", r#"{"a":""}"#));
    assert!(m("a: '*'", r#"{"a":"line1\nline2"}"#));
    assert!(!m("a: '*'", r#"{"b":"x"}"#));
    // Escaped wildcards are literal.
    assert!(m(r"a: 'a\*c'", r#"{"a":"a*c"}"#));
    assert!(!m(r"a: 'a\*c'", r#"{"a":"abc"}"#));
    assert!(m(r"a: 'a\?'", r#"{"a":"a?"}"#));
    assert!(!m(r"a: 'a\?'", r#"{"a":"ab"}"#));
    // A backslash before another character stays.
    assert!(m(r"a: 'c:\windows'", r#"{"a":"C:\\Windows"}"#));
    // Regex characters in values are literal.
    assert!(m("a: 'a.c'", r#"{"a":"a.c"}"#));
    assert!(!m("a: 'a.c*'", r#"{"a":"abc"}"#));
}

#[test]
fn contains_startswith_endswith() {
    assert!(m("a|contains: OOB", r#"{"a":"foobar"}"#));
    assert!(m("a|startswith: FOO", r#"{"a":"foobar"}"#));
    assert!(!m("a|startswith: bar", r#"{"a":"foobar"}"#));
    assert!(m("a|endswith: BAR", r#"{"a":"foobar"}"#));
    assert!(m("a|contains: 'o*a'", r#"{"a":"foobar"}"#));
    assert!(m("a|endswith: 'b?r'", r#"{"a":"foobar"}"#));
    assert!(!m("a|endswith: 'b?r'", r#"{"a":"foobarx"}"#));
}

#[test]
fn nulls_and_missing_fields() {
    assert!(m("a: null", r#"{"b":1}"#));
    assert!(m("a: null", r#"{"a":null}"#));
    assert!(!m("a: null", r#"{"a":""}"#));
    assert!(!m("a: x", r#"{"b":"x"}"#));
    // A null in a value list matches a missing field (the specification: the list is an OR).
    assert!(m("a: [x, null]", r#"{"b":1}"#));
    assert!(m("a|exists: true", r#"{"a":""}"#));
    assert!(!m("a|exists: true", r#"{"a":null}"#));
    assert!(m("a|exists: false", r#"{"b":1}"#));
}

#[test]
fn arrays_match_any_element_and_objects_their_json_text() {
    let ev = r#"{"c":[{"cmd":["sh","-c","curl $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]},{"cmd":"ls"}],"r":{"p":{"Effect":"Allow"}}}"#;
    assert!(m("c.cmd|contains: '$aws_container'", ev));
    assert!(m("c.cmd: ls", ev));
    assert!(!m("c.cmd: cat", ev));
    assert!(m("r|contains: '\"Effect\":\"Allow\"'", ev));
    assert!(m("r.p|contains: allow", ev));
    assert!(!m("r.q|contains: allow", ev));
}

#[test]
fn regular_expressions() {
    assert!(m(
        "a|re: '.+:assumed-role/aws:.+'",
        r#"{"a":"arn:aws:sts::1:assumed-role/aws:x"}"#
    ));
    // Case-sensitive unless |i.
    assert!(!m("a|re: '^ABC'", r#"{"a":"abc"}"#));
    assert!(m("a|re|i: '^ABC'", r#"{"a":"abc"}"#));
    assert!(!m("a|re: '^b$'", r#"{"a":"a\nb"}"#));
    assert!(m("a|re|m: '^b$'", r#"{"a":"a\nb"}"#));
    assert!(!m("a|re: 'a.b'", r#"{"a":"a\nb"}"#));
    assert!(m("a|re|s: 'a.b'", r#"{"a":"a\nb"}"#));
    assert!(err("a|re: '('").contains("regular expression"));
}

#[test]
fn numbers_and_comparisons() {
    assert!(m("a: 42", r#"{"a":42}"#));
    assert!(m("a: 42", r#"{"a":"42"}"#));
    assert!(m("a|gt: 10", r#"{"a":11}"#));
    assert!(!m("a|gt: 10", r#"{"a":10}"#));
    assert!(m("a|gte: 10", r#"{"a":"10"}"#));
    assert!(m("a|lt: 10", r#"{"a":9.5}"#));
    assert!(m("a|lte: 10", r#"{"a":10}"#));
    assert!(!m("a|lt: 10", r#"{"a":"x"}"#));
    assert!(m("a: true", r#"{"a":true}"#));
    assert!(m("a: true", r#"{"a":"True"}"#));
    assert!(!m("a: false", r#"{"a":true}"#));
}

#[test]
fn cidr() {
    assert!(m("a|cidr: 10.0.0.0/8", r#"{"a":"10.1.2.3"}"#));
    assert!(!m("a|cidr: 10.0.0.0/8", r#"{"a":"11.1.2.3"}"#));
    assert!(!m("a|cidr: 10.0.0.0/8", r#"{"a":"AWS Internal"}"#));
    assert!(m("a|cidr: '2001:db8::/32'", r#"{"a":"2001:db8::1"}"#));
    assert!(m(
        "a|cidr: [192.168.0.0/16, 0.0.0.0/0]",
        r#"{"a":"8.8.8.8"}"#
    ));
    assert!(err("a|cidr: 10.0.0.0/40").contains("CIDR"));
}

#[test]
fn fieldref() {
    assert!(m("a|fieldref: b", r#"{"a":"Alice","b":"alice"}"#));
    assert!(!m("a|fieldref: b", r#"{"a":"Alice","b":"bob"}"#));
    assert!(!m("a|fieldref: b", r#"{"a":"Alice"}"#));
    assert!(m(
        "a|fieldref|endswith: b",
        r#"{"a":"arn:aws:iam::1:user/alice","b":"alice"}"#
    ));
    assert!(m(
        "a|fieldref: b.c",
        r#"{"a":"x","b":[{"c":"y"},{"c":"X"}]}"#
    ));
}

#[test]
fn base64_and_base64offset() {
    // "ping" -> cGluZw==
    assert!(m("a|base64: ping", r#"{"a":"cGluZw=="}"#));
    assert!(m("a|base64|contains: ping", r#"{"a":"xx cGluZw== yy"}"#));
    // "http://" at each offset of an encoded text.
    for text in ["http://x", " http://x", "  http://x"] {
        use base64::Engine as _;
        let enc = base64::engine::general_purpose::STANDARD.encode(text);
        assert!(
            m(
                "a|base64offset|contains: 'http://'",
                &format!(r#"{{"a":"{enc}"}}"#)
            ),
            "{text}"
        );
    }
    assert!(!m(
        "a|base64offset|contains: 'http://'",
        r#"{"a":"aGVsbG8="}"#
    ));
}

#[test]
fn windash() {
    assert!(m("a|windash|contains: ' -enc '", r#"{"a":"ps /enc x"}"#));
    assert!(m(
        "a|windash|contains: ' -enc '",
        "{\"a\":\"ps \u{2013}enc x\"}"
    ));
    assert!(!m("a|windash|contains: ' -enc '", r#"{"a":"ps +enc x"}"#));
}

#[test]
fn unsupported_modifiers_are_named() {
    assert!(err("a|expand: '%x%'").contains("expand"));
    assert!(err("a|i: x").contains("|re"));
}

#[test]
fn ascii_case_folding_without_a_copy_agrees_with_folding() {
    let hays = [
        "GetObject",
        "getobject",
        "GETOBJECTS",
        "xGetObject",
        "Straße",
        "ÄBC",
        "",
        "g",
    ];
    let needles = ["getobject", "get", "objects", "", "straße", "äbc", "ß"];
    for op in [
        StrOp::Equals,
        StrOp::Contains,
        StrOp::StartsWith,
        StrOp::EndsWith,
    ] {
        for h in hays {
            for n in needles {
                assert_eq!(
                    folded_str_test(op, h, n),
                    str_test(op, &fold(h), n),
                    "{op:?} {h:?} {n:?}"
                );
            }
        }
    }
    assert!(folded_str_test(StrOp::StartsWith, "GetObject", "get"));
    assert!(folded_str_test(StrOp::EndsWith, "GetObject", "object"));
    assert!(!folded_str_test(StrOp::Equals, "GetObjects", "getobject"));
}
