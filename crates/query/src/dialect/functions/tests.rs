use super::*;

/// The answer before the scan existed: the whole document parsed, then the path applied.
fn reference(
    doc: Option<&str>,
    path: &str,
    f: impl Fn(&Value) -> Option<String>,
) -> Option<String> {
    let v = parse_json(doc?)?;
    JsonPath::parse(path)
        .unwrap()
        .extract(&v)
        .and_then(|x| f(&x))
}

fn str_array(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

/// The function's answers, which must be the same for documents and paths given as
/// `Utf8` and as `Utf8View` (the lake's top-level columns are read as views).
fn run(eval: Eval, docs: &[Option<&str>], paths: &[&str]) -> Vec<Option<String>> {
    let paths: Vec<Option<&str>> = paths.iter().map(|p| Some(*p)).collect();
    let answers = |docs: ArrayRef, paths: ArrayRef| -> Vec<Option<String>> {
        let n = docs.len();
        let out = eval(&[docs, paths], n).unwrap();
        let out = out.as_string::<i32>();
        (0..out.len())
            .map(|i| out.is_valid(i).then(|| out.value(i).to_owned()))
            .collect()
    };
    let plain = answers(str_array(docs), str_array(&paths));
    let views = answers(
        Arc::new(StringViewArray::from(docs.to_vec())),
        Arc::new(StringViewArray::from(paths.clone())),
    );
    assert_eq!(plain, views, "the same answers from views");
    assert_eq!(plain.len(), docs.len());
    plain
}

/// Both functions answer as the reference for every document and path.
fn assert_same_as_reference(docs: &[Option<&str>], paths: &[&str]) {
    for path in paths {
        let per_row = vec![*path; docs.len()];
        let scalar = run(json_extract_scalar, docs, &per_row);
        let json = run(json_extract, docs, &per_row);
        for (i, doc) in docs.iter().enumerate() {
            let want = reference(*doc, path, scalar_text);
            assert_eq!(scalar[i], want, "json_extract_scalar({doc:?}, {path:?})");
            let want = reference(*doc, path, |v| Some(json_text(v)));
            assert_eq!(json[i], want, "json_extract({doc:?}, {path:?})");
        }
    }
}

const PATHS: &[&str] = &[
    "$",
    "$.a",
    "$.b",
    "$.a.b",
    "$.a.b[0]",
    "$.a.b[1]",
    "$.a.b[1].c",
    "$.a.b[7]",
    "$.a[0]",
    "$[0]",
    "$[1]",
    "$[2].a",
    "$.bucketName",
    "$.key",
    "$.ConsoleLogin",
    "$.MFAUsed",
    "$.n",
    "$.s",
    "$.é",
    r#"$["é"]"#,
    r#"$["key with space"]"#,
    "$['aws:Src']",
    r#"$["a\"b"]"#,
    r#"$["x-amz-copy-source"]"#,
    // Not scanned: these must still answer through the parsed document.
    "$.a.b[-1]",
    "$.a.*",
    "$.a.b[*]",
    "$[*]",
];

#[test]
fn json_path_answers_match_the_parsed_document() {
    let deep = |n: usize| format!(r#"{{"a":1,"d":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
    let deep_first = |n: usize| format!(r#"{{"d":{}1{},"a":2}}"#, "[".repeat(n), "]".repeat(n));
    let generated = [
        deep(90),
        deep(98),
        deep(99),
        deep(100),
        deep(126),
        deep(127),
        deep(128),
        deep(200),
        deep(300),
        deep_first(126),
        deep_first(127),
        deep_first(128),
        format!(r#"{{"a":{},"n":1}}"#, "9".repeat(310)),
        format!(r#"{{"a":{},"n":1}}"#, "9".repeat(290)),
        format!(r#"{{"n":{}}}"#, "9".repeat(300)),
        format!(r#"{{"n":{}.5}}"#, "9".repeat(5000)),
        format!(r#"{{"n":0.{}1}}"#, "0".repeat(400)),
    ];
    let mut docs: Vec<Option<&str>> = vec![
        None,
        // CloudTrail-like requestParameters and additionalEventData.
        Some(
            r#"{"bucketName":"my-bucket-12","key":"path/to/object.txt","Host":"my-bucket-12.s3.amazonaws.com","x-id":"GetObject"}"#,
        ),
        Some(
            r#"{"ConsoleLogin":"Success","MFAUsed":"No","LoginTo":"https://console.aws.amazon.com/"}"#,
        ),
        Some(r#"{"MFAUsed":true,"ConsoleLogin":null}"#),
        Some(r#"{"x-amz-copy-source":"bkt/k","aws:Src":1,"key with space":"v"}"#),
        // Nesting.
        Some(r#"{"a":{"b":[10,{"c":"x"}]}}"#),
        Some(r#"{"a":{"b":[10,{"c":"x"},[1,2]],"z":0},"b":2}"#),
        Some(r#"{"a":{"b":[[1,2],{"c":{"d":[true,false,null]}}]}}"#),
        Some(r#"{"a":{"b":[]}}"#),
        Some(r#"{"a":{"b":{}}}"#),
        Some(r#"{"a":{"b":"not an array"}}"#),
        Some(r#"{"a":[{"x":1},{"y":2}]}"#),
        Some(r#"[{"a":1},{"a":2},{"a":{"b":[3]}}]"#),
        Some(r#"[1,"two",3.5,null,true]"#),
        Some("[]"),
        Some("{}"),
        // Every kind of scalar as the answer.
        Some(r#"{"a":"x"}"#),
        Some(r#"{"a":""}"#),
        Some(r#"{"a":true}"#),
        Some(r#"{"a":false}"#),
        Some(r#"{"a":null}"#),
        Some(r#"{"a":0}"#),
        Some(r#"{"a":-0}"#),
        Some(r#"{"a":-0.0}"#),
        Some(r#"{"a":42}"#),
        Some(r#"{"a":-42}"#),
        Some(r#"{"a":1.50}"#),
        Some(r#"{"a":1.0}"#),
        Some(r#"{"a":1e3}"#),
        Some(r#"{"a":1E3}"#),
        Some(r#"{"a":1e-3}"#),
        Some(r#"{"a":2.5e+2}"#),
        Some(r#"{"a":1e-400}"#),
        Some(r#"{"a":1e400}"#),
        Some(r#"{"a":"x","b":1e400}"#),
        Some(r#"{"a":"x","b":-1E309}"#),
        Some(r#"{"a":"x","b":1.7976931348623157e308}"#),
        Some(r#"{"a":9999999999999999999}"#),
        Some(r#"{"a":18446744073709551615}"#),
        Some(r#"{"a":18446744073709551616}"#),
        Some(r#"{"a":-9223372036854775808}"#),
        Some(r#"{"a":-9223372036854775809}"#),
        Some(r#"{"a":123456789012345678901234567890}"#),
        Some(r#"{"a":0.1}"#),
        Some(r#"{"a":3.141592653589793238462643383279}"#),
        // Escapes.
        Some(r#"{"a":"caf\u00e9"}"#),
        Some(r#"{"a":"say \"hi\""}"#),
        Some(r#"{"a":"back\\slash"}"#),
        Some(r#"{"a":"sl\/ash"}"#),
        Some(r#"{"a":"tab\tnl\ncr\rbs\bff\f"}"#),
        Some(r#"{"a":"nul\u0000"}"#),
        Some(r#"{"a":"del\u007f"}"#),
        Some(r#"{"a":"\ud83d\ude00"}"#),
        Some(r#"{"a":"😀 raw é"}"#),
        Some(r#"{"a":"x","b":"\ud800"}"#),
        Some(r#"{"a":"x","b":"\udc00"}"#),
        Some(r#"{"a":"x","b":"\ud800\u0041"}"#),
        Some(r#"{"a":"x","b":"\ud800x"}"#),
        Some(r#"{"a":"x","b":"\x"}"#),
        Some(r#"{"a":"x","b":"\u12"}"#),
        Some("{\"a\":\"x\",\"b\":\"raw\ttab\"}"),
        Some("{\"a\":\"raw\nnewline\"}"),
        Some("{\"a\":\"raw\u{7f}del\"}"),
        Some(r#"{"a":["caf\u00e9",{"k":"\"q\""}]}"#),
        // Keys: escaped, unicode, quoted in the path.
        Some(r#"{"\u0061":"escaped key"}"#),
        Some(r#"{"é":"unicode key","\u00e9x":1}"#),
        Some(r#"{"\u00e9":"escaped unicode key"}"#),
        Some(r#"{"a\"b":"quote in key"}"#),
        Some(r#"{"key with space":{"a":1}}"#),
        // Duplicate keys: the last one counts, even where the path then fails.
        Some(r#"{"a":1,"a":2}"#),
        Some(r#"{"a":{"b":[1]},"a":{"c":2}}"#),
        Some(r#"{"a":{"c":2},"a":{"b":[1]}}"#),
        Some(r#"{"a":{"b":[1],"b":[2,3]}}"#),
        Some(r#"{"a":"x","b":1,"a":null}"#),
        Some(r#"{"a":{"b":1,"a":2,"b":0},"a":{"b":5,"c":{"b":6}}}"#),
        // Invalid JSON, before or after the answer.
        Some(r#"{"a":"x",}"#),
        Some(r#"{"a":"x","b":}"#),
        Some(r#"{"a":"x","b":[1,2,]}"#),
        Some(r#"{"a":"x" "b":1}"#),
        Some(r#"{"a":"x","b":01}"#),
        Some(r#"{"a":"x","b":1.}"#),
        Some(r#"{"a":"x","b":.5}"#),
        Some(r#"{"a":"x","b":-}"#),
        Some(r#"{"a":"x","b":+1}"#),
        Some(r#"{"a":"x","b":1e}"#),
        Some(r#"{"a":"x","b":NaN}"#),
        Some(r#"{"a":"x","b":Infinity}"#),
        Some(r#"{"a":"x","b":-Infinity}"#),
        Some(r#"{"a":"x","b":tru}"#),
        Some(r#"{"a":"x","b":nul}"#),
        Some(r#"{"a":"x","b":'s'}"#),
        Some(r#"{"a":"x",b:1}"#),
        Some(r#"{"a":"x"}}"#),
        Some(r#"{"a":"x"} x"#),
        Some(r#"{"a":"x"}{}"#),
        Some(r#"{"a":"x""#),
        Some(r#"{"a":"x"#),
        Some(r#"{"b":[,"a":1]}"#),
        Some(r#"{"b":1,"a":"x","c":[1 2]}"#),
        Some(r#"{1:2,"a":"x"}"#),
        Some(r#"{"a":"x"} // comment"#),
        Some("\u{feff}{\"a\":\"x\"}"),
        Some("{\"a\":\"x\"}\u{a0}"),
        Some(""),
        Some("   "),
        Some("null"),
        Some("nonsense"),
        // Whitespace and pretty-printing.
        Some(r#"{ "a" : { "b" : [ 10 , { "c" : "x" } ] } }"#),
        Some(
            "{\n  \"a\": {\n    \"b\": [\n      10,\n      {\"c\": \"x\", \"d\": [1, 2]}\n    ]\n  }\n}\n",
        ),
        Some("\t\r\n {\"a\":\t\"x\"\r\n}\t "),
        Some(r#"{"a" : [ 1 , 2 ] , "b" : { "z" : 1 , "y" : 2 } }"#),
        Some(r#"{"a":{"z":1,"y":{"q":[1, 2.50, "s"]}}}"#),
        // Top-level scalars.
        Some(r#""just a string""#),
        Some("12"),
        Some(" true "),
    ];
    docs.extend(generated.iter().map(|d| Some(d.as_str())));
    assert_same_as_reference(&docs, PATHS);
}

#[test]
fn json_path_per_row_paths() {
    let docs = [
        Some(r#"{"a":{"b":[1,2]}}"#),
        Some(r#"{"a":{"b":[1,2]}}"#),
        Some(r#"{"a":{"b":[1,2]}}"#),
        None,
        Some(r#"{"a":"x"}"#),
    ];
    let paths = ["$.a.b[0]", "$.a.b", "$.a.b[-1]", "$.a", "$.a"];
    let want = |f: &dyn Fn(&Value) -> Option<String>| -> Vec<Option<String>> {
        docs.iter()
            .zip(paths)
            .map(|(d, p)| reference(*d, p, f))
            .collect()
    };
    assert_eq!(run(json_extract_scalar, &docs, &paths), want(&scalar_text));
    assert_eq!(
        run(json_extract, &docs, &paths),
        want(&|v| Some(json_text(v)))
    );
    let bad_path = str_array(&[Some("a.b"); 5]);
    assert!(json_extract(&[str_array(&docs), bad_path], 5).is_err());
}

/// Random documents, valid and broken, against every path: a fuzz run kept small
/// enough for a unit test, with a fixed seed so that a failure repeats.
#[test]
fn json_path_answers_match_on_random_documents() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let docs: Vec<String> = (0..3000)
        .map(|_| {
            let mut doc = String::new();
            random_value(&mut rng, &mut doc, 0);
            if rng.below(3) == 0 {
                mutate(&mut rng, &doc)
            } else {
                doc
            }
        })
        .collect();
    let docs: Vec<Option<&str>> = docs.iter().map(|d| Some(d.as_str())).collect();
    assert_same_as_reference(&docs, PATHS);
}

/// xorshift64: enough randomness for test documents without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn random_value(rng: &mut Rng, out: &mut String, depth: usize) {
    const KEYS: &[&str] = &[
        r#""a""#,
        r#""b""#,
        r#""c""#,
        r#""n""#,
        r#""s""#,
        r#""é""#,
        r#""\u0061""#,
        r#""\u00e9""#,
        r#""a\"b""#,
        r#""key with space""#,
        r#""aws:Src""#,
        r#""bucketName""#,
    ];
    const SCALARS: &[&str] = &[
        r#""x""#,
        r#""""#,
        r#""caf\u00e9""#,
        r#""q\"q""#,
        r#""sl\/ash""#,
        r#""\ud83d\ude00""#,
        r#""\ud800""#,
        r#""tab\t""#,
        r#""é😀""#,
        "0",
        "-0",
        "7",
        "-7",
        "1.50",
        "1e3",
        "1E400",
        "2.5e-3",
        "18446744073709551616",
        "0.1",
        "true",
        "false",
        "null",
    ];
    const SPACES: &[&str] = &["", "", "", " ", "\n  ", "\t"];
    out.push_str(rng.pick(SPACES));
    match if depth > 4 { 2 } else { rng.below(5) } {
        0 => {
            out.push('{');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(rng.pick(SPACES));
                out.push_str(rng.pick(KEYS));
                out.push_str(rng.pick(SPACES));
                out.push(':');
                random_value(rng, out, depth + 1);
            }
            out.push('}');
        }
        1 => {
            out.push('[');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                random_value(rng, out, depth + 1);
            }
            out.push(']');
        }
        _ => out.push_str(rng.pick(SCALARS)),
    }
    out.push_str(rng.pick(SPACES));
}

/// The document with one character removed, replaced or added, or cut short.
fn mutate(rng: &mut Rng, doc: &str) -> String {
    const CHARS: &[char] = &[
        ',', ']', '}', '[', '{', '"', '\\', ':', 'x', '0', ' ', '\u{1}',
    ];
    let mut chars: Vec<char> = doc.chars().collect();
    if chars.is_empty() {
        return doc.to_owned();
    }
    let at = rng.below(chars.len());
    let c = CHARS[rng.below(CHARS.len())];
    match rng.below(4) {
        0 => {
            chars.remove(at);
        }
        1 => chars[at] = c,
        2 => chars.insert(at, c),
        _ => chars.truncate(at),
    }
    chars.into_iter().collect()
}

#[test]
fn format_translation() {
    assert_eq!(mysql_to_chrono("%Y-%m-%d %H:%i:%s"), "%Y-%m-%d %H:%M:%S");
    assert_eq!(
        joda_to_chrono("yyyy-MM-dd'T'HH:mm:ss.SSSZ"),
        "%Y-%m-%dT%H:%M:%S.%3f%z"
    );
}
