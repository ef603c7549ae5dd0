//! The words a transcript's end is read by, per language: which final words leave a sentence
//! open (conjunctions, articles, prepositions, fillers, lead-ins such as "my number is") and the
//! words people dictate with (digits, "at", "dot"). Words are lower case, apostrophes straight.
//!
//! A list holds only words that (almost) never end a finished sentence: English "to" ends "I
//! want to." and German "mit" ends "Ich komme mit.", so such words are left out or excepted.

/// One language's words.
pub(super) struct Lexicon {
    /// Final words that leave a clause open: "and", "because".
    pub conjunctions: &'static [&'static str],
    /// Final word pairs that do: "and then".
    pub conjunction_pairs: &'static [[&'static str; 2]],
    /// Articles and determiners that need a noun after them: "the", "my".
    pub articles: &'static [&'static str],
    /// Prepositions that need an object even after a full stop: "of", "with".
    pub prepositions: &'static [&'static str],
    /// Prepositions and particles that also end sentences ("come in", "that's what it's
    /// about"): a cue only when the STT gave no final punctuation.
    pub soft_prepositions: &'static [&'static str],
    /// The infinitive marker that ends a sentence after these words ("I'd like to.", "I have
    /// to.") but not elsewhere ("I want to go to.").
    pub infinitive: Option<(&'static str, &'static [&'static str])>,
    /// Hesitation sounds: "um", "äh".
    pub fillers: &'static [&'static str],
    /// Final words that announce what comes next: "it's", "c'est", "lautet".
    pub lead_in_words: &'static [&'static str],
    /// Final word pairs that do: "as in" (spelling), "such as".
    pub lead_in_pairs: &'static [[&'static str; 2]],
    /// Nouns whose value follows a final copula: "number" in "my number is".
    pub lead_in_nouns: &'static [&'static str],
    /// Copulas: "is", "es", "ist".
    pub copulas: &'static [&'static str],
    /// Possessives that make "my X is" / "my X Y is" a lead-in whatever X is; only without
    /// final punctuation ("That's how my life is." is finished).
    pub possessives: &'static [&'static str],
    /// Final phrases that open a request ("I'd like", "can I get"): a cue only without final
    /// punctuation.
    pub soft_lead_ins: &'static [&'static [&'static str]],
    /// A possessive ending that needs a noun after it without final punctuation ("for my
    /// daughter's"), though it can end a sentence ("It was John's.").
    pub possessive_ending: Option<&'static str>,
    /// The digit words 0-9 (and "oh", "double" where people dictate with them).
    pub digits: &'static [&'static str],
    /// Ten to ninety: with a digit word after them, one number ("twenty three").
    pub tens: &'static [&'static str],
    /// Words that make a run of numbers an amount, not a dictation: "hundred".
    pub magnitudes: &'static [&'static str],
    /// "@" spoken: "at", "arroba".
    pub at_words: &'static [&'static str],
    /// "." and the other joiners of an address: "dot", "underscore", "punto".
    pub joiner_words: &'static [&'static str],
}

/// Words anywhere in a transcript that say an address is being given, in every language.
pub(super) const EMAIL_CONTEXT: &[&str] = &[
    "email",
    "mail",
    "gmail",
    "hotmail",
    "yahoo",
    "outlook",
    "icloud",
    "proton",
    "protonmail",
    "aol",
    "website",
    "url",
    "www",
    "correo",
    "courriel",
    "adresse-mail",
    "endereço",
    "indirizzo",
];

/// Words anywhere in a transcript that say a long number is being given (a phone, account or
/// card number, a postcode), in every language: a run of fewer than 7 digits after one of them
/// is a number still being read out ("My number is five five."), even with a full stop.
pub(super) const NUMBER_CONTEXT: &[&str] = &[
    "number",
    "phone",
    "telephone",
    "mobile",
    "cell",
    "account",
    "card",
    "postcode",
    "zip",
    "número",
    "numero",
    "teléfono",
    "telefono",
    "móvil",
    "cuenta",
    "tarjeta",
    "numéro",
    "téléphone",
    "portable",
    "compte",
    "carte",
    "nummer",
    "telefon",
    "handynummer",
    "telefonnummer",
    "kontonummer",
    "postleitzahl",
    "telemóvel",
    "cartão",
    "conto",
    "carta",
];

pub(super) const ENGLISH: Lexicon = Lexicon {
    conjunctions: &[
        "and", "or", "but", "because", "cuz", "if", "unless", "although", "nor", "than", "whereas",
        "whether",
    ],
    conjunction_pairs: &[
        ["and", "then"],
        ["and", "so"],
        ["and", "also"],
        ["but", "then"],
    ],
    articles: &[
        "a", "an", "the", "my", "your", "our", "their", "its", "every",
    ],
    prepositions: &[
        "to",
        "of",
        "for",
        "with",
        "at",
        "from",
        "into",
        "onto",
        "via",
        "per",
        "toward",
        "towards",
        "upon",
        "including",
        "during",
        "among",
        "amongst",
        "unto",
        "regarding",
        "without",
    ],
    soft_prepositions: &[
        "in", "on", "about", "by", "like", "near", "under", "over", "after", "before", "around",
        "across", "behind", "beyond", "against", "inside", "outside", "within", "through",
        "between",
    ],
    infinitive: Some((
        "to",
        &[
            "want", "wants", "wanted", "have", "has", "had", "need", "needs", "needed", "love",
            "like", "going", "got", "ought", "used", "supposed", "able", "try", "trying", "tried",
            "plan", "planning", "hope", "hoping", "mean", "meant", "wish", "how", "happy", "glad",
            "willing", "allowed", "ready", "forgot", "refuse", "prefer", "decided", "agree",
            "afraid", "not",
        ],
    )),
    fillers: &[
        "um", "umm", "ummm", "uh", "uhh", "uhm", "uhmm", "er", "erm", "hmm", "hmmm", "hm", "mm",
        "mmm",
    ],
    lead_in_words: &[
        "it's", "that's", "what's", "here's", "there's", "who's", "he's", "she's", "i'm", "you're",
        "we're", "they're", "name's", "number's", "email's",
    ],
    lead_in_pairs: &[
        ["as", "in"],
        ["such", "as"],
        ["which", "is"],
        ["which", "are"],
    ],
    lead_in_nouns: &[
        "number",
        "phone",
        "mobile",
        "cell",
        "email",
        "mail",
        "address",
        "name",
        "surname",
        "code",
        "zip",
        "zipcode",
        "postcode",
        "pin",
        "extension",
        "account",
        "card",
        "date",
        "birthday",
        "reference",
        "id",
        "password",
        "username",
        "handle",
        "website",
        "url",
        "mine",
        "order",
    ],
    copulas: &["is", "was", "are"],
    possessives: &["my", "our", "your", "his", "her", "their"],
    soft_lead_ins: &[
        &["i'd", "like"],
        &["i", "would", "like"],
        &["i", "want"],
        &["i", "need"],
        &["i'll", "have"],
        &["i'll", "take"],
        &["can", "i", "get"],
        &["can", "i", "have"],
        &["could", "i", "get"],
        &["could", "i", "have"],
        &["give", "me"],
        &["let", "me"],
    ],
    possessive_ending: Some("'s"),
    digits: &[
        "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "double", "triple",
    ],
    tens: &[
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "sixty",
        "seventy",
        "eighty",
        "ninety",
    ],
    magnitudes: &["hundred", "thousand", "million", "billion"],
    at_words: &["at"],
    joiner_words: &["dot", "underscore", "dash", "hyphen"],
};

pub(super) const SPANISH: Lexicon = Lexicon {
    conjunctions: &[
        "y", "e", "o", "u", "pero", "porque", "que", "ni", "aunque", "sino",
    ],
    conjunction_pairs: &[],
    articles: &[
        "el", "la", "los", "las", "mi", "mis", "tu", "tus", "su", "sus", "del", "al",
    ],
    prepositions: &[
        "a", "de", "en", "con", "para", "por", "sin", "hacia", "hasta", "desde",
    ],
    soft_prepositions: &["sobre", "entre", "según"],
    infinitive: None,
    fillers: &["eh", "em", "ehm", "mmm", "hmm"],
    lead_in_words: &[],
    lead_in_pairs: &[["o", "sea"]],
    lead_in_nouns: &[
        "número",
        "numero",
        "teléfono",
        "telefono",
        "móvil",
        "movil",
        "correo",
        "email",
        "dirección",
        "direccion",
        "nombre",
        "apellido",
        "código",
        "codigo",
    ],
    copulas: &["es", "era", "son"],
    possessives: &["mi", "tu", "su", "nuestro", "nuestra"],
    soft_lead_ins: &[
        &["quiero"],
        &["quisiera"],
        &["me", "gustaría"],
        &["necesito"],
    ],
    possessive_ending: None,
    digits: &[
        "cero", "uno", "una", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve",
        "doble",
    ],
    tens: &[],
    magnitudes: &["cien", "ciento", "mil", "millón", "millones"],
    at_words: &["arroba"],
    joiner_words: &["punto", "guion", "guión", "barra"],
};

pub(super) const FRENCH: Lexicon = Lexicon {
    conjunctions: &["et", "ou", "mais", "car", "que", "qu'", "ni", "parce"],
    conjunction_pairs: &[["et", "puis"]],
    articles: &[
        "le", "la", "les", "l'", "des", "du", "au", "aux", "mon", "ma", "mes", "ton", "ta", "tes",
        "son", "sa", "ses", "notre", "votre", "nos", "vos",
    ],
    prepositions: &[
        "à", "de", "d'", "dans", "pour", "avec", "sans", "chez", "par",
    ],
    soft_prepositions: &["sur", "en", "entre", "sous", "vers"],
    infinitive: None,
    fillers: &["euh", "heu", "euhm", "hum", "hmm", "bah", "ben"],
    lead_in_words: &["c'est", "voici", "voilà"],
    lead_in_pairs: &[["comme", "dans"]],
    lead_in_nouns: &[
        "numéro",
        "numero",
        "téléphone",
        "portable",
        "mail",
        "e-mail",
        "email",
        "courriel",
        "adresse",
        "nom",
        "prénom",
        "code",
    ],
    copulas: &["est", "c'est"],
    possessives: &["mon", "ma", "notre", "votre"],
    soft_lead_ins: &[&["je", "voudrais"], &["je", "veux"], &["j'aimerais"]],
    possessive_ending: None,
    digits: &[
        "zéro", "zero", "un", "une", "deux", "trois", "quatre", "cinq", "six", "sept", "huit",
        "neuf",
    ],
    tens: &[],
    magnitudes: &["cent", "cents", "mille", "million"],
    at_words: &["arobase", "arrobase", "at"],
    joiner_words: &["point", "tiret"],
};

pub(super) const GERMAN: Lexicon = Lexicon {
    conjunctions: &[
        "und", "oder", "aber", "weil", "dass", "daß", "sondern", "ob",
    ],
    conjunction_pairs: &[],
    articles: &["des", "einem", "eines", "meinem", "deinem", "unserem"],
    prepositions: &[
        "von", "für", "bei", "zum", "zur", "im", "ins", "am", "beim", "vom", "ohne", "gegen",
        "zwischen", "wegen", "trotz", "während",
    ],
    soft_prepositions: &["mit", "nach", "auf", "an", "in", "aus", "zu"],
    infinitive: None,
    fillers: &["äh", "ähm", "öh", "öhm", "hm", "hmm", "ehm"],
    lead_in_words: &["lautet"],
    lead_in_pairs: &[["wie", "in"]],
    lead_in_nouns: &[
        "nummer",
        "telefonnummer",
        "handynummer",
        "rufnummer",
        "e-mail",
        "email",
        "mail",
        "adresse",
        "name",
        "nachname",
        "vorname",
        "postleitzahl",
        "plz",
        "code",
    ],
    copulas: &["ist", "war"],
    possessives: &["meine", "mein", "unsere"],
    soft_lead_ins: &[
        &["ich", "möchte"],
        &["ich", "hätte", "gern"],
        &["ich", "brauche"],
    ],
    possessive_ending: None,
    digits: &[
        "null", "eins", "zwei", "zwo", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
        "doppel",
    ],
    tens: &[],
    magnitudes: &["hundert", "tausend", "million"],
    at_words: &["at", "ät"],
    joiner_words: &["punkt", "bindestrich", "unterstrich"],
};

pub(super) const PORTUGUESE: Lexicon = Lexicon {
    conjunctions: &["e", "ou", "mas", "porque", "que", "nem"],
    conjunction_pairs: &[],
    articles: &[
        "o", "a", "os", "as", "do", "da", "dos", "das", "no", "na", "nos", "nas", "ao", "à",
        "pelo", "pela",
    ],
    prepositions: &["de", "em", "pra", "com", "por", "sem", "desde"],
    soft_prepositions: &["para", "sobre", "entre", "até"],
    infinitive: None,
    fillers: &["hã", "hum", "ahn", "hmm", "éé"],
    lead_in_words: &[],
    lead_in_pairs: &[["ou", "seja"]],
    lead_in_nouns: &[
        "número",
        "numero",
        "telefone",
        "celular",
        "email",
        "e-mail",
        "endereço",
        "endereco",
        "nome",
        "código",
        "codigo",
        "cep",
    ],
    copulas: &["é", "era"],
    possessives: &["meu", "minha", "nosso", "nossa"],
    soft_lead_ins: &[&["eu", "quero"], &["queria"], &["gostaria", "de"]],
    possessive_ending: None,
    digits: &[
        "zero", "um", "uma", "dois", "duas", "três", "tres", "quatro", "cinco", "seis", "meia",
        "sete", "oito", "nove",
    ],
    tens: &[],
    magnitudes: &["cem", "cento", "mil", "milhão", "milhões"],
    at_words: &["arroba"],
    joiner_words: &["ponto", "traço", "hífen", "underline"],
};

pub(super) const ITALIAN: Lexicon = Lexicon {
    conjunctions: &["e", "ed", "o", "ma", "che", "né", "oppure"],
    conjunction_pairs: &[],
    articles: &[
        "il", "lo", "la", "gli", "un'", "l'", "del", "della", "dei", "degli", "delle", "al",
        "alla", "ai", "agli", "alle", "nel", "nella", "nei", "negli", "nelle", "sul", "sulla",
        "dal", "dalla",
    ],
    prepositions: &["di", "a", "da", "in", "con", "per", "tra", "fra", "senza"],
    soft_prepositions: &["su", "verso"],
    infinitive: None,
    fillers: &["ehm", "eh", "uhm", "mmm", "hmm", "cioè"],
    lead_in_words: &[],
    lead_in_pairs: &[["come", "in"]],
    lead_in_nouns: &[
        "numero",
        "telefono",
        "cellulare",
        "email",
        "e-mail",
        "mail",
        "indirizzo",
        "nome",
        "cognome",
        "codice",
    ],
    copulas: &["è", "era"],
    possessives: &["mio", "mia"],
    soft_lead_ins: &[&["vorrei"], &["voglio"]],
    possessive_ending: None,
    digits: &[
        "zero", "uno", "una", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove",
        "doppio",
    ],
    tens: &[],
    magnitudes: &["cento", "mille", "mila", "milione"],
    at_words: &["chiocciola", "at"],
    joiner_words: &["punto", "trattino"],
};

/// The lexicon of a BCP 47 tag's primary language (`en-US` -> English) or of Whisper's language
/// name (`english`); English for any other language or none.
pub(super) fn lexicon_for(primary: &str) -> &'static Lexicon {
    match primary {
        "es" | "spanish" => &SPANISH,
        "fr" | "french" => &FRENCH,
        "de" | "german" => &GERMAN,
        "pt" | "portuguese" => &PORTUGUESE,
        "it" | "italian" => &ITALIAN,
        _ => &ENGLISH,
    }
}
