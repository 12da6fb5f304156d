use rmpv::Value;
use validator::{Validate, ValidationError};

use crate::error::Code;
use crate::validate::probe::{Probe, ViaNoValidate as _, ViaValidate as _};
use crate::validate::to_error;

#[derive(Debug, Validate)]
struct Flat {
    #[validate(length(min = 1, max = 16))]
    name: String,
    #[validate(range(min = 0, max = 150))]
    age: i64,
    #[validate(email)]
    email: String,
}

#[derive(Debug, Validate)]
struct Address {
    #[validate(length(min = 1))]
    street: String,
}

#[derive(Debug, Validate)]
struct Person {
    #[validate(length(max = 3))]
    nick: String,
    #[validate(nested)]
    address: Address,
}

#[derive(Debug, Validate)]
struct Item {
    #[validate(range(min = 1, message = "order at least one"))]
    qty: u32,
}

#[derive(Debug, Validate)]
struct Order {
    #[validate(nested)]
    items: Vec<Item>,
}

fn even(n: i64) -> Result<(), ValidationError> {
    if n % 2 == 0 {
        Ok(())
    } else {
        Err(ValidationError::new("even"))
    }
}

#[derive(Debug, Validate)]
struct Custom {
    #[validate(custom(function = "even"))]
    n: i64,
}

fn ordered(r: &Window) -> Result<(), ValidationError> {
    if r.start <= r.end {
        Ok(())
    } else {
        let mut err = ValidationError::new("order");
        err.message = Some("start must not be after end".into());
        Err(err)
    }
}

#[derive(Debug, Validate)]
#[validate(schema(function = "ordered"))]
struct Window {
    start: u32,
    end: u32,
}

#[derive(Debug, Validate)]
struct Schedule {
    #[validate(nested)]
    window: Window,
}

#[derive(Debug, Validate)]
struct Secret {
    password: String,
    #[validate(must_match(other = "password"))]
    confirm: String,
}

#[derive(Debug)]
struct Plain {
    _n: i32,
}

fn data(err: &crate::error::Error) -> &Value {
    assert_eq!(err.code(), Code::VALIDATION_ERROR);
    assert_eq!(err.message(), "Validation Error");
    err.data().expect("422 carries data")
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_map()
        .expect("map")
        .iter()
        .map(|(k, _)| k.as_str().expect("str key"))
        .collect()
}

fn get<'v>(v: &'v Value, key: &str) -> &'v Value {
    v.as_map()
        .expect("map")
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no key {key} in {v}"))
}

fn first_error<'v>(data: &'v Value, path: &str) -> &'v Value {
    &get(data, path).as_array().expect("list")[0]
}

fn check(value: &impl Validate) -> crate::error::Error {
    to_error(&value.validate().expect_err("invalid on purpose"))
}

#[test]
fn flat_struct_exact_bytes() {
    let err = check(&Flat {
        name: String::new(),
        age: 200,
        email: "nope".into(),
    });
    let s = |t: &str| Value::from(t);
    let obj = |code: &str, text: &str, params: Vec<(Value, Value)>| {
        Value::Map(vec![
            (s("code"), s(code)),
            (s("message"), s(text)),
            (s("params"), Value::Map(params)),
            (s("description"), s(text)),
        ])
    };
    let want = Value::Map(vec![
        (
            s("age"),
            Value::Array(vec![obj(
                "range",
                "must be between 0 and 150",
                vec![(s("max"), Value::from(150)), (s("min"), Value::from(0))],
            )]),
        ),
        (
            s("email"),
            Value::Array(vec![obj("email", "must be a valid email", vec![])]),
        ),
        (
            s("name"),
            Value::Array(vec![obj(
                "length",
                "length must be between 1 and 16",
                vec![(s("max"), Value::from(16)), (s("min"), Value::from(1))],
            )]),
        ),
    ]);
    assert_eq!(data(&err), &want);

    // The exact bytes of the first entry, so other implementations can check against them.
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, data(&err)).unwrap();
    let mut want_bytes = vec![0x83, 0xa3];
    want_bytes.extend_from_slice(b"age");
    want_bytes.extend_from_slice(&[0x91, 0x84, 0xa4]);
    want_bytes.extend_from_slice(b"code");
    want_bytes.push(0xa5);
    want_bytes.extend_from_slice(b"range");
    assert_eq!(&bytes[..want_bytes.len()], &want_bytes[..]);
}

#[test]
fn params_drop_the_offending_value() {
    let err = check(&Flat {
        name: "hunter2hunter2hunter2".into(),
        age: 1,
        email: "a@example.com".into(),
    });
    let params = get(first_error(data(&err), "name"), "params");
    assert_eq!(keys(params), ["max", "min"]);
    assert!(!format!("{err:?}").contains("hunter2"));
}

#[test]
fn must_match_hides_the_other_value() {
    let err = check(&Secret {
        password: "correct horse".into(),
        confirm: "battery staple".into(),
    });
    let e = first_error(data(&err), "confirm");
    assert_eq!(get(e, "code").as_str(), Some("must_match"));
    assert_eq!(
        get(e, "message").as_str(),
        Some("must match the other field")
    );
    let dump = format!("{err:?}");
    assert!(
        !dump.contains("horse") && !dump.contains("battery"),
        "{dump}"
    );
}

#[test]
fn nested_struct_uses_dotted_path() {
    let err = check(&Person {
        nick: "toolong".into(),
        address: Address {
            street: String::new(),
        },
    });
    let d = data(&err);
    assert_eq!(keys(d), ["address.street", "nick"]);
    let e = first_error(d, "address.street");
    assert_eq!(get(e, "code").as_str(), Some("length"));
    assert_eq!(
        get(e, "description").as_str(),
        Some("length must be at least 1")
    );
    assert_eq!(
        get(first_error(d, "nick"), "message").as_str(),
        Some("length must be at most 3")
    );
}

#[test]
fn vec_of_structs_uses_indexed_path_sorted_numerically() {
    let items = (0..12).map(|i| Item { qty: i % 2 }).collect();
    let err = check(&Order { items });
    let d = data(&err);
    assert_eq!(
        keys(d),
        [
            "items[0].qty",
            "items[2].qty",
            "items[4].qty",
            "items[6].qty",
            "items[8].qty",
            "items[10].qty"
        ]
    );
    let e = first_error(d, "items[2].qty");
    assert_eq!(get(e, "message").as_str(), Some("order at least one"));
    assert_eq!(get(e, "description").as_str(), Some("order at least one"));
    assert_eq!(keys(get(e, "params")), ["min"]);
}

#[test]
fn top_level_vec_paths_start_with_the_index() {
    let err = check(&vec![Item { qty: 1 }, Item { qty: 0 }]);
    assert_eq!(keys(data(&err)), ["[1].qty"]);
}

#[test]
fn custom_function_keeps_its_code() {
    let err = check(&Custom { n: 3 });
    let e = first_error(data(&err), "n");
    assert_eq!(get(e, "code").as_str(), Some("even"));
    assert_eq!(
        get(e, "message").as_str(),
        Some("failed the \"even\" check")
    );
    assert_eq!(get(e, "params"), &Value::Map(vec![]));
    assert!(check_ok(&Custom { n: 4 }));
}

fn check_ok(value: &impl Validate) -> bool {
    value.validate().is_ok()
}

#[test]
fn struct_level_error_at_root_is_star() {
    let err = check(&Window { start: 5, end: 1 });
    let d = data(&err);
    assert_eq!(keys(d), ["*"]);
    let e = first_error(d, "*");
    assert_eq!(get(e, "code").as_str(), Some("order"));
    assert_eq!(
        get(e, "message").as_str(),
        Some("start must not be after end")
    );
}

#[test]
fn struct_level_error_when_nested_uses_struct_path() {
    let err = check(&Schedule {
        window: Window { start: 5, end: 1 },
    });
    assert_eq!(keys(data(&err)), ["window"]);
}

#[test]
fn sentences_for_every_builtin_shape() {
    let mk = |code: &'static str, params: &[(&'static str, serde_json::Value)]| {
        let mut e = ValidationError::new(code);
        for (k, v) in params {
            e.add_param((*k).into(), v);
        }
        super::describe(&e)
    };
    use serde_json::json;
    assert_eq!(
        mk("length", &[("equal", json!(4))]),
        "length must be exactly 4"
    );
    assert_eq!(
        mk("length", &[("max", json!(9))]),
        "length must be at most 9"
    );
    assert_eq!(mk("range", &[("max", json!(150))]), "must be at most 150");
    assert_eq!(
        mk(
            "range",
            &[("exclusive_min", json!(0)), ("exclusive_max", json!(1.5))]
        ),
        "must be greater than 0 and less than 1.5"
    );
    assert_eq!(mk("range", &[]), "is out of range");
    assert_eq!(
        mk("contains", &[("needle", json!("@"))]),
        "must contain \"@\""
    );
    assert_eq!(mk("url", &[]), "must be a valid URL");
    assert_eq!(mk("required", &[]), "is required");
}

#[test]
fn deep_error_trees_are_cut_not_overflowed() {
    let mut errors = validator::ValidationErrors::new();
    errors.add("leaf", ValidationError::new("x"));
    for _ in 0..200 {
        let mut parent = validator::ValidationErrors::new();
        parent.errors_mut().insert(
            "n".into(),
            validator::ValidationErrorsKind::Struct(Box::new(errors)),
        );
        errors = parent;
    }
    let err = to_error(&errors);
    let d = data(&err);
    assert_eq!(keys(d).len(), 1);
    assert_eq!(keys(d)[0].matches('n').count(), super::MAX_DEPTH);
    assert_eq!(
        get(first_error(d, keys(d)[0]), "code").as_str(),
        Some("depth")
    );
}

#[test]
fn map_params_are_sorted_and_deterministic() {
    let mut e = ValidationError::new("custom");
    for k in ["z", "b", "a", "m"] {
        e.add_param(k.into(), &1);
    }
    let mut errors = validator::ValidationErrors::new();
    errors.add("f", e);
    let err = to_error(&errors);
    assert_eq!(
        keys(get(first_error(data(&err), "f"), "params")),
        ["a", "b", "m", "z"]
    );
}

// The explicit `&` is the probe: clippy sees it as needless when `ViaValidate` applies,
// but without it the `ViaNoValidate` fallback would never be found.
#[allow(clippy::needless_borrow)]
#[test]
fn probe_picks_validate_for_validated_struct() {
    let f = (&Probe::<Flat>::new()).validator().expect("Flat: Validate");
    let good = Flat {
        name: "ann".into(),
        age: 3,
        email: "a@example.com".into(),
    };
    assert!(f(&good).is_ok());
    let bad = Flat {
        name: String::new(),
        ..good
    };
    assert_eq!(f(&bad).unwrap_err().code(), Code::VALIDATION_ERROR);
    assert!((&Probe::<Vec<Item>>::new()).validator().is_some());
}

#[test]
fn probe_falls_back_for_plain_types() {
    assert!((&Probe::<Plain>::new()).validator().is_none());
    assert!((&Probe::<(i32, i32)>::new()).validator().is_none());
    assert!((&Probe::<i64>::new()).validator().is_none());
    assert!((&Probe::<String>::new()).validator().is_none());
    assert!((&Probe::<()>::new()).validator().is_none());
    assert_eq!(format!("{:?}", Probe::<i64>::new()), "Probe<i64>");
}
