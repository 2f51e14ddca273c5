use super::*;

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
const JSON: Option<&str> = Some("application/json");

#[test]
fn routes_annif_paths_and_decodes_project_ids() {
    assert_eq!(Route::parse("GET", "/v1/projects"), Ok(Route::ListProjects));
    assert_eq!(Route::parse("GET", "/v1/"), Ok(Route::ApiInfo));
    assert_eq!(
        Route::parse("GET", "/v1/projects/un%20zh"),
        Ok(Route::ShowProject("un zh".into()))
    );
    assert_eq!(
        Route::parse("POST", "/v1/projects/demo/suggest"),
        Ok(Route::Suggest("demo".into()))
    );
    assert_eq!(
        Route::parse("POST", "/v1/projects/demo/suggest-batch"),
        Ok(Route::SuggestBatch("demo".into()))
    );
    assert_eq!(
        Route::parse("GET", "/v1/projects/").unwrap_err().status,
        404
    );
    assert_eq!(
        Route::parse("POST", "/v1/projects/demo/learn"),
        Ok(Route::Learn("demo".into()))
    );
    assert_eq!(
        Route::parse("GET", "/v1/projects/demo/learn")
            .unwrap_err()
            .status,
        405
    );
    assert_eq!(
        Route::parse("POST", "/v1/projects/demo/unlearn")
            .unwrap_err()
            .status,
        404
    );
    assert_eq!(Route::parse("GET", "/v1/vocabs"), Ok(Route::ListVocabs));
    assert_eq!(
        Route::parse("POST", "/v1/detect-language"),
        Ok(Route::DetectLanguage)
    );
    assert_eq!(
        Route::parse("GET", "/v1/detect-language")
            .unwrap_err()
            .status,
        405
    );
    assert_eq!(
        Route::parse("GET", "/v1/projects/demo/suggest")
            .unwrap_err()
            .status,
        405
    );
    assert_eq!(Route::parse("DELETE", "/").unwrap_err().status, 405);
    assert_eq!(
        Route::parse("GET", "/v1/projects/%FF").unwrap_err().status,
        400
    );
    assert_eq!(
        Route::parse("GET", "/v1/projects/%4").unwrap_err().status,
        400
    );
}

#[test]
fn decodes_annif_client_suggest_forms() {
    let call = decode_suggest(
        FORM,
        b"text=%E7%BB%B4%E6%8C%81+%E5%92%8C%E5%B9%B3&limit=5&threshold=0.25",
    )
    .unwrap();
    assert_eq!(call.text, "维持 和平");
    assert_eq!(call.options.limit, Some(5));
    assert_eq!(call.options.threshold, Some(0.25));
    let defaults = decode_suggest(
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        b"text=a&metadata_title=x",
    )
    .unwrap();
    assert_eq!(defaults.options, SuggestOptions::default());
}

#[test]
fn refuses_bad_forms_with_the_reason() {
    let status = |ct, body: &[u8]| decode_suggest(ct, body).unwrap_err().status;
    assert_eq!(status(FORM, b"limit=3"), 400); // no text
    assert_eq!(status(FORM, b"text=a&text=b"), 400);
    assert_eq!(status(FORM, b"text=a&limit=-1"), 400);
    assert_eq!(status(FORM, b"text=a&limit=ten"), 400);
    assert_eq!(status(FORM, b"text=a&threshold=1.5"), 400);
    assert_eq!(status(FORM, b"text=a&threshold=NaN"), 400);
    assert_eq!(status(FORM, b"text=a&treshold=0.5"), 400);
    assert_eq!(status(FORM, b"text=%E7%BB"), 400); // truncated UTF-8 sequence
    assert_eq!(status(FORM, b"text=\xff\xfe"), 400);
    assert_eq!(status(FORM, b"text=100%"), 400);
    assert_eq!(status(JSON, b"text=a"), 415);
    assert_eq!(status(None, b"text=a"), 415);
    assert_eq!(
        status(
            Some("application/x-www-form-urlencoded; charset=latin1"),
            b"text=a"
        ),
        415
    );
    let detail = decode_suggest(FORM, b"text=a&limit=x").unwrap_err().detail;
    assert!(detail.contains("limit"), "{detail}");
}

#[test]
fn decodes_batches_and_enforces_the_document_cap() {
    let body =
        br#"{"documents":[{"text":"a","document_id":"d1"},{"text":"b","metadata":{"k":"v"}}]}"#;
    let call = decode_batch(Some("limit=3&threshold=0.1"), JSON, body).unwrap();
    assert_eq!(call.documents.len(), 2);
    assert_eq!(call.documents[0].document_id.as_deref(), Some("d1"));
    assert_eq!(call.documents[1].document_id, None);
    assert_eq!(call.options.limit, Some(3));

    let many = format!(
        "{{\"documents\":[{}]}}",
        vec![r#"{"text":"x"}"#; MAX_BATCH_DOCUMENTS + 1].join(",")
    );
    assert_eq!(
        decode_batch(None, JSON, many.as_bytes())
            .unwrap_err()
            .status,
        400
    );
    assert_eq!(
        decode_batch(None, JSON, b"{\"documents\":[{}]}")
            .unwrap_err()
            .status,
        400
    );
    assert_eq!(decode_batch(None, JSON, b"[1,2").unwrap_err().status, 400);
    assert_eq!(
        decode_batch(None, JSON, b"{\"documents\":[{\"text\":\"\xff\"}]}")
            .unwrap_err()
            .status,
        400
    );
    assert_eq!(
        decode_batch(Some("limit=x"), JSON, body)
            .unwrap_err()
            .status,
        400
    );
    assert_eq!(
        decode_batch(Some("foo=1"), JSON, body).unwrap_err().status,
        400
    );
    assert_eq!(decode_batch(None, FORM, body).unwrap_err().status, 415);
}

#[test]
fn decodes_indexed_documents_to_learn_from() {
    let body = r#"[{"text":"维持和平","subjects":[{"uri":"http://x/1","label":"PEACE"},{"label":"AFRICA"}]},
                  {"text":"b","subjects":[{"uri":"<http://x/2>"}],"metadata":{"k":"v"}}]"#;
    let docs = decode_learn(JSON, body.as_bytes()).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].subjects[0].uri.as_deref(), Some("http://x/1"));
    assert_eq!(docs[0].subjects[1].uri, None);
    assert_eq!(docs[0].subjects[1].label.as_deref(), Some("AFRICA"));
    assert!(decode_learn(JSON, b"[]").unwrap().is_empty());
    let status = |body: &str| decode_learn(JSON, body.as_bytes()).unwrap_err();
    assert!(status(r#"[{"subjects":[{"uri":"u"}]}]"#)
        .detail
        .contains("document 1"));
    assert!(status(r#"[{"text":"a","subjects":[]}]"#)
        .detail
        .contains("empty"));
    assert!(status(r#"[{"text":"a"},{"text":"b","subjects":[{}]}]"#)
        .detail
        .contains("document 1"));
    assert!(
        status(r#"[{"text":"a","subjects":[{"uri":"u"},{"label":" "}]}]"#)
            .detail
            .contains("document 1, subject 2")
    );
    assert_eq!(
        status(r#"[{"text":"a","subjects":[{"label":"A\u0000B"}]}]"#).status,
        400
    );
    assert_eq!(status(r#"{"documents":[]}"#).status, 400);
    assert_eq!(
        status(r#"[{"text":"a","subjects":[{"uri":"u"}],"x":1}]"#).status,
        400
    );
    assert_eq!(decode_learn(FORM, b"[]").unwrap_err().status, 415);
}

#[test]
fn decodes_detect_language_calls() {
    let call =
        decode_detect_language(JSON, br#"{"text":"hello","languages":["en","FI","en"]}"#).unwrap();
    assert_eq!(call.text, "hello");
    let codes: Vec<&str> = call.languages.iter().map(|l| l.as_str()).collect();
    assert_eq!(codes, ["en", "fi"]);
    for bad in [
        r#"{"text":"a","languages":[]}"#,
        r#"{"text":"a","languages":["a","b","c","d","e","f"]}"#,
        r#"{"text":"a","languages":["zh-Hans"]}"#,
        r#"{"text":"a"}"#,
        r#"{"languages":["en"]}"#,
    ] {
        assert_eq!(
            decode_detect_language(JSON, bad.as_bytes())
                .unwrap_err()
                .status,
            400,
            "{bad}"
        );
    }
    assert_eq!(decode_detect_language(FORM, b"{}").unwrap_err().status, 415);
}

#[test]
fn percent_encoding_round_trips() {
    for text in [
        "PEACEKEEPING OPERATIONS",
        "COUNTER-TERRORISM",
        "维持和平行动",
        "a/b?c=d&e%f",
    ] {
        assert_eq!(percent_decode(&percent_encode(text), false).unwrap(), text);
    }
    assert_eq!(percent_encode("A B"), "A%20B");
}

#[test]
fn language_tags_are_short_ascii_words() {
    assert_eq!(LanguageTag::parse("ZH").unwrap().as_str(), "zh");
    assert!(LanguageTag::parse("").is_none());
    assert!(LanguageTag::parse("zh-Hans").is_none());
    assert!(LanguageTag::parse("abcdefghi").is_none());
}
