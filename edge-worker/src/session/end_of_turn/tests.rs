//! Tests of [`super`]: a table of transcripts as Whisper (leading space, full punctuation,
//! `...` when trailing off, `[BLANK_AUDIO]`) and Deepgram (no leading space, punctuation only
//! when asked for, fillers when asked for) print them, with how each must read; then the waits.

use super::*;
use Cue::*;

const C: Reading = Reading::Complete;
const N: Reading = Reading::Neutral;
const fn u(cue: Cue) -> Reading {
    Reading::Unfinished(cue)
}

const EN: Option<&str> = Some("en");

/// (transcript, language, reading)
const TABLE: &[(&str, Option<&str>, Reading)] = &[
    // Questions and finished sentences, including ones that contain cue words.
    (" What time do you open tomorrow?", EN, C),
    (" Where are you from?", EN, C),
    (" What is the number?", EN, C),
    (" Can you deliver to Mill Lane?", EN, C),
    ("WHAT ARE YOUR OPENING HOURS?", EN, C),
    (" Hmm?", EN, C),
    (" Is it open on Sunday? [BLANK_AUDIO]", EN, C),
    (" That's all, thanks.", EN, C),
    (" Okay.", None, C),
    (" Yes.", EN, C),
    (" No, thanks.", Some("en-US"), C),
    (" Two.", EN, C),
    (" Two loaves of rye.", EN, C),
    ("I'd like two loaves of rye, please.", Some("en-GB"), C),
    (" I'd like to.", EN, C),
    (" Yes, I have to.", EN, C),
    (" I'd like.", EN, C),
    (" Thank you so much!", EN, C),
    (" Sign me up.", EN, C),
    (" Come in.", EN, C),
    (" That's what I'm talking about.", EN, C),
    (" That's just how my life is.", EN, C),
    (" OK, see you then.", EN, C),
    (" I live in the U.S.", EN, C),
    (" Table for 4.", EN, C),
    (" Plan B.", EN, C),
    (" I was born in 1990.", EN, C),
    (" I'm twenty three.", EN, C),
    (" My number is 555-123-4567.", EN, C),
    (" It's john@example.com.", EN, C),
    (" My email is john at gmail dot com.", EN, C),
    (" He said, “we close at six.”", EN, C),
    (" (I think so.)", EN, C),
    (" Can I get a?", EN, u(TrailingArticle)),
    (" Can I get a large coffee and a croissant?", EN, C),
    (
        " I'd like to order a cake for my daughter's birthday.",
        EN,
        C,
    ),
    (" For Saturday at 10 a.m.", EN, C),
    (" Saturday at 10:30.", EN, C),
    (" Sure, it's 555-0199.", EN, C),
    (" The zip code is 90210.", EN, C),
    (" It's Jane.Doe at Outlook.com.", EN, C),
    (" It's for, uh, two people.", EN, C),
    (" I'm good, thanks. And you?", EN, C),
    (" Mm-hmm.", EN, C),
    (" I'd love to!", EN, C),
    (" Tell me about it.", EN, C),
    (" It was John's.", EN, C),
    // No final punctuation and nothing else either way (an STT without punctuation).
    ("what time do you open tomorrow", EN, N),
    ("two loaves of rye please", EN, N),
    ("yes", EN, N),
    ("two", EN, N),
    ("two hundred", EN, N),
    ("i was born in 1990", EN, N),
    ("my email is john at gmail dot com", EN, N),
    ("", EN, N),
    ("   ", None, N),
    ("[BLANK_AUDIO]", None, N),
    (" ...", EN, N),
    // Fillers, even after a full stop.
    (" I'd like to order, um,", EN, u(Filler)),
    (" I'd like to order, um.", EN, u(Filler)),
    ("i'd like to order um", EN, u(Filler)),
    (" Um,", EN, u(Filler)),
    ("uh", None, u(Filler)),
    (" Hmm.", EN, u(Filler)),
    // Conjunctions, articles, prepositions.
    (" I'd like a sourdough and", EN, u(TrailingConjunction)),
    (" I'd like a sourdough and.", EN, u(TrailingConjunction)),
    (" It's a birthday cake because", EN, u(TrailingConjunction)),
    ("and then", EN, u(TrailingConjunction)),
    (
        "the order is for saturday and",
        None,
        u(TrailingConjunction),
    ),
    (" Can I get a", EN, u(TrailingArticle)),
    (" I'll have the.", EN, u(TrailingArticle)),
    (" I want to go to.", EN, u(TrailingPreposition)),
    (" I want to", EN, u(TrailingPreposition)),
    (" I was going to-", EN, u(TrailingPreposition)),
    (" I'm looking at", EN, u(TrailingPreposition)),
    (" Do you have anything without", EN, u(TrailingPreposition)),
    (" “I need a cake for”", EN, u(TrailingPreposition)),
    ("come in", EN, u(TrailingPreposition)),
    (" I was wondering if", EN, u(TrailingConjunction)),
    (" Can you tell me more about", EN, u(TrailingPreposition)),
    (
        " I'd like to order a cake for my daughter's",
        EN,
        u(TrailingArticle),
    ),
    (" Uh, yeah, I'd like to, uh,", EN, u(Filler)),
    // Lead-ins.
    (" My number is", EN, u(LeadIn)),
    (" My number is.", EN, u(LeadIn)),
    (" My phone number is:", EN, u(LeadIn)),
    (" The address is", EN, u(LeadIn)),
    (" My email address is", EN, u(LeadIn)),
    (" My last name is", EN, u(LeadIn)),
    (" It's", EN, u(LeadIn)),
    (" It’s.", EN, u(LeadIn)),
    (" B as in", EN, u(LeadIn)),
    (" My number is...", EN, u(LeadIn)),
    (" I'd like", EN, u(LeadIn)),
    ("can i get", EN, u(LeadIn)),
    // Phone numbers mid-dictation.
    (
        " My number is five five five, two three",
        EN,
        u(DigitString),
    ),
    ("my number is 555 23", EN, u(DigitString)),
    ("two three four", EN, u(DigitString)),
    (" Five five five, two three.", EN, u(DigitString)),
    (" 555-23.", EN, u(DigitString)),
    (" It's 555", EN, u(DigitString)),
    (" Oh five five oh,", EN, u(DigitString)),
    ("twenty three forty five", EN, u(DigitString)),
    (" 555-123-4567", EN, u(DigitString)),
    (" My number is (555) 123-", EN, u(DigitString)),
    (" The zip code is 9 0 2 1 0.", EN, u(DigitString)),
    // A number announced as long, cut short at a group (Whisper closes each with a full stop).
    (" My number is five five.", EN, u(DigitString)),
    (" My phone number is 555.", EN, u(DigitString)),
    (" My account number is four two.", EN, u(DigitString)),
    (" Mi número es cinco cinco.", Some("es"), u(DigitString)),
    (
        " Meine Telefonnummer ist 0 3 0.",
        Some("de"),
        u(DigitString),
    ),
    // ... but not once it is whole, nor a short number with no such word before it.
    (" My phone number is 555 123 4567.", EN, C),
    (" The number of guests is large.", EN, C),
    (" Number two, please.", EN, C),
    (" I'd like number four.", EN, C),
    (" My number's five five.", EN, u(DigitString)),
    // Spelling and addresses mid-dictation.
    (" It's j o h n", EN, u(Spelling)),
    (" J-O-H-N.", EN, u(Spelling)),
    (" J. O. H. N.", EN, u(Spelling)),
    (" My email is john at", EN, u(SpelledEmail)),
    ("j o h n at", EN, u(SpelledEmail)),
    (" john at gmail dot", EN, u(SpelledEmail)),
    (" My e-mail is john at gmail.", EN, u(SpelledEmail)),
    (" It's john@", EN, u(SpelledEmail)),
    ("john@gmail", EN, u(SpelledEmail)),
    (" jane.doe@outlook", EN, u(SpelledEmail)),
    (" Sarah, S-A-R-A-H.", EN, u(Spelling)),
    // Open marks.
    (" So I was thinking...", EN, u(TrailingEllipsis)),
    (" I was thinking…", EN, u(TrailingEllipsis)),
    (" Well,", EN, u(TrailingComma)),
    (" Yes,", EN, u(TrailingComma)),
    (" So the thing is, ", EN, u(TrailingComma)),
    (" I'd like bread;", EN, u(TrailingComma)),
    (" The pickup time:", EN, u(TrailingColon)),
    (" I was wondering whether the—", EN, u(TrailingArticle)),
    (" Saturday—", EN, u(TrailingDash)),
    // Spanish.
    (" ¿A qué hora abren mañana?", Some("es"), C),
    (" Quiero dos barras de pan.", Some("es"), C),
    (" Quiero una.", Some("es"), C),
    (" Sí, gracias.", Some("es"), C),
    (
        " Quiero una barra de pan y",
        Some("es"),
        u(TrailingConjunction),
    ),
    ("quiero pan y", Some("spanish"), u(TrailingConjunction)),
    ("quiero pan y", Some("es_ES"), u(TrailingConjunction)),
    ("quiero pan y", None, N),
    (" Mi número es", Some("es-ES"), u(LeadIn)),
    (
        " Mi número es cinco cinco cinco, dos tres",
        Some("es"),
        u(DigitString),
    ),
    (" Eh,", Some("es"), u(Filler)),
    (" Es para el", Some("es-MX"), u(TrailingArticle)),
    (" Vivo en", Some("es"), u(TrailingPreposition)),
    ("mi correo es juan arroba", Some("es"), u(SpelledEmail)),
    (
        " Mi correo es juan punto perez arroba gmail punto com.",
        Some("es"),
        C,
    ),
    (" Y punto.", Some("es"), C),
    // French.
    (" Vous êtes ouverts dimanche ?", Some("fr"), C),
    (" Merci, c'est tout.", Some("fr"), C),
    (" J'en veux une.", Some("fr"), C),
    (
        " Je voudrais une baguette et",
        Some("fr"),
        u(TrailingConjunction),
    ),
    (" Euh...", Some("fr"), u(Filler)),
    (" C'est", Some("fr"), u(LeadIn)),
    (" Mon numéro est le", Some("fr-FR"), u(TrailingArticle)),
    (
        " Je voudrais un gâteau pour",
        Some("fr"),
        u(TrailingPreposition),
    ),
    // German.
    (" Haben Sie am Sonntag geöffnet?", Some("de"), C),
    (" Ich komme mit.", Some("de"), C),
    (" Ich nehme eine.", Some("de"), C),
    (
        " Ich hätte gern ein Roggenbrot und",
        Some("de-DE"),
        u(TrailingConjunction),
    ),
    (" Meine Nummer ist", Some("de"), u(LeadIn)),
    (" Meine Telefonnummer lautet", Some("de"), u(LeadIn)),
    (" Äh,", Some("de"), u(Filler)),
    (" Das ist für", Some("de"), u(TrailingPreposition)),
    ("null eins sieben drei", Some("de"), u(DigitString)),
    (
        " Meine E-Mail ist anna at gmx punkt",
        Some("de"),
        u(SpelledEmail),
    ),
    // Portuguese.
    (" Vocês abrem no domingo?", Some("pt-BR"), C),
    (" Quero uma.", Some("pt"), C),
    (
        " Eu queria um pão de forma e",
        Some("pt"),
        u(TrailingConjunction),
    ),
    (" Meu telefone é", Some("pt-BR"), u(LeadIn)),
    (" É para a", Some("pt"), u(TrailingArticle)),
    // Italian.
    (" A che ora aprite domani?", Some("it"), C),
    (" È mio.", Some("it"), C),
    (" Vorrei una pagnotta e", Some("it"), u(TrailingConjunction)),
    (" Il mio numero è", Some("it-IT"), u(LeadIn)),
    (" Ehm,", Some("it"), u(Filler)),
    // Languages with marks only.
    ("明天几点开门？", Some("zh"), C),
    ("我想订一个蛋糕，", Some("zh-CN"), u(TrailingComma)),
    ("明日は開いていますか。", Some("ja"), C),
    ("えっと、", Some("ja"), u(TrailingComma)),
    ("それで…", Some("ja"), u(TrailingEllipsis)),
    (" Τι ώρα ανοίγετε;", Some("el"), C),
    (" كم الساعة؟", Some("ar"), C),
    ("मुझे एक केक चाहिए।", Some("hi"), C),
];

#[test]
fn the_table_of_transcripts_reads_as_expected() {
    assert!(TABLE.len() >= 80, "{} rows", TABLE.len());
    let wrong: Vec<String> = TABLE
        .iter()
        .filter_map(|&(text, language, want)| {
            let got = read(text, language);
            (got != want).then(|| format!("{text:?} ({language:?}): got {got:?}, want {want:?}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn odd_input_reads_neutral_without_a_panic() {
    for text in [
        "?",
        "...",
        "—",
        "[",
        "]]",
        "[[x]",
        "''",
        "’",
        "\"\"",
        "@",
        " , ",
        "( )",
        "\u{0}",
        "🙂",
        "-",
        "--",
        "・・・",
    ] {
        assert_eq!(read(text, EN), N, "{text:?}");
    }
    // Whatever the bytes, a reading comes back (no slicing inside a character).
    for text in [
        "é…",
        "日本語、",
        "a@",
        "@.",
        "x@y.",
        "5,5,5",
        "+1 (555)",
        "ü-ö-ä",
    ] {
        let _ = read(text, Some("de")).as_str();
    }
    assert_eq!(read("a@", EN), u(SpelledEmail));
    assert_eq!(read("+1 (555)", EN), u(DigitString));
    assert_eq!(read("ü-ö-ä", EN), u(Spelling));
}

#[test]
fn cue_and_reason_names_are_fixed_log_strings() {
    let cues = [
        TrailingConjunction,
        TrailingPreposition,
        TrailingArticle,
        Filler,
        LeadIn,
        DigitString,
        SpelledEmail,
        Spelling,
        TrailingComma,
        TrailingColon,
        TrailingDash,
        TrailingEllipsis,
    ];
    let names: std::collections::HashSet<&str> = cues.iter().map(|c| c.as_str()).collect();
    assert_eq!(names.len(), cues.len(), "one name per cue");
    for name in names {
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{name}"
        );
    }
    let reasons = [
        WaitReason::Complete,
        WaitReason::Neutral,
        WaitReason::Unfinished,
        WaitReason::Cap,
        WaitReason::Fallback,
    ];
    let names: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        ["complete", "neutral", "unfinished", "cap", "fallback"]
    );
}

const EAGERNESS: [Eagerness; 3] = [Eagerness::Low, Eagerness::Medium, Eagerness::High];

#[test]
fn waits_shorten_with_eagerness_and_lengthen_with_doubt() {
    for reading in [C, N, u(Filler)] {
        let [low, medium, high] = EAGERNESS.map(|e| wait_ms(e, reading));
        assert!(
            high < medium && medium < low,
            "{reading:?}: {low} {medium} {high}"
        );
    }
    let [low, medium, high] = EAGERNESS.map(cap_ms);
    assert!(high < medium && medium < low);
    for e in EAGERNESS {
        let (c, n, unfinished) = (wait_ms(e, C), wait_ms(e, N), wait_ms(e, u(DigitString)));
        assert!(c < n && n < unfinished, "{e:?}: {c} {n} {unfinished}");
        assert!(unfinished <= cap_ms(e), "{e:?}");
    }
    // Today's fixed wait sits between a complete and an unfinished turn's at every eagerness.
    for e in EAGERNESS {
        assert!(wait_ms(e, C) < FALLBACK_WAIT_MS && FALLBACK_WAIT_MS < wait_ms(e, u(Filler)));
    }
}

#[test]
fn no_decision_waits_above_the_cap() {
    for e in EAGERNESS {
        for &(text, language, want) in TABLE {
            let d = decide(e, Some(text), language);
            assert!(d.wait_ms <= cap_ms(e), "{text:?} {e:?}");
            assert_eq!(d.wait_ms, wait_ms(e, want));
            assert_eq!(
                d.cue,
                match want {
                    Reading::Unfinished(cue) => Some(cue),
                    _ => None,
                }
            );
        }
        assert!(decide(e, None, None).wait_ms <= cap_ms(e));
        assert_eq!(EndOfTurnWait::cap(e).wait_ms, cap_ms(e));
    }
}

#[test]
fn the_decision_says_why() {
    let medium = Eagerness::Medium;
    let d = decide(medium, Some(" What time do you open?"), EN);
    assert_eq!(
        (d.wait_ms, d.reason, d.cue),
        (300, WaitReason::Complete, None)
    );
    let d = decide(medium, Some("what time do you open"), EN);
    assert_eq!(
        (d.wait_ms, d.reason, d.cue),
        (800, WaitReason::Neutral, None)
    );
    let d = decide(Eagerness::High, Some(" My number is five five five,"), EN);
    assert_eq!(
        (d.wait_ms, d.reason, d.cue),
        (1_200, WaitReason::Unfinished, Some(DigitString))
    );
    let d = decide(Eagerness::Low, None, None);
    assert_eq!(
        (d.wait_ms, d.reason, d.cue),
        (FALLBACK_WAIT_MS, WaitReason::Fallback, None)
    );
    assert_eq!(EndOfTurnWait::cap(medium).reason, WaitReason::Cap);
}

#[test]
fn eagerness_is_lower_case_in_json_and_medium_by_default() {
    assert_eq!(Eagerness::default(), Eagerness::Medium);
    for e in EAGERNESS {
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, format!("\"{}\"", e.as_str()));
        assert_eq!(serde_json::from_str::<Eagerness>(&json).unwrap(), e);
    }
    for bad in ["\"Medium\"", "\"fast\"", "1", "null"] {
        assert!(serde_json::from_str::<Eagerness>(bad).is_err(), "{bad}");
    }
}
