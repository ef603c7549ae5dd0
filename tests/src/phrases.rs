//! The spoken phrase set of the turn-taking benchmarks (tests/benches/turn_cutoff.rs): turns
//! whose first half reads unfinished, said with a pause before the rest, and complete turns;
//! the voices that say them (espeak-ng voices and rates, the local Piper voice) and the
//! recorded human speech of Debian's pocketsphinx-testdata.

/// A turn said in two halves with a pause between: the first half reads unfinished (a filler,
/// a preposition, an article, a digit string or an email being spelled, a trailing comma).
#[derive(Debug, Clone, Copy)]
pub struct SplitTurn {
    pub first: &'static str,
    pub rest: &'static str,
    /// What makes the first half unfinished, for the report.
    pub kind: &'static str,
}

const fn split(first: &'static str, rest: &'static str, kind: &'static str) -> SplitTurn {
    SplitTurn { first, rest, kind }
}

/// Unfinished first halves and the rest of each turn.
pub const SPLIT_TURNS: &[SplitTurn] = &[
    split(
        "I'd like to order, um,",
        "two loaves of rye bread.",
        "filler",
    ),
    split(
        "My number is five five five,",
        "one two three four.",
        "digits",
    ),
    split("I want to fly to", "Boston next Friday.", "preposition"),
    split(
        "Can you tell me about the",
        "opening hours on Sunday?",
        "article",
    ),
    split("My email is john dot", "smith at example dot com.", "email"),
    split(
        "I was wondering if",
        "you have any gluten free cakes.",
        "conjunction",
    ),
    split(
        "Could you book a table for",
        "four people at seven tonight?",
        "preposition",
    ),
    split(
        "The delivery address is twelve",
        "Elm Street, apartment three.",
        "digits",
    ),
    split(
        "I'd like to change my order because",
        "I need it earlier.",
        "conjunction",
    ),
    split("So, uh,", "what time do you close today?", "filler"),
    split(
        "We need a cake for my daughter's birthday and",
        "it should say happy birthday Emma.",
        "conjunction",
    ),
    split(
        "Can I pay with",
        "a credit card when I pick it up?",
        "preposition",
    ),
    split(
        "My account number is four two",
        "seven nine eight one.",
        "digits",
    ),
    split(
        "I'm calling about the order I placed on",
        "Tuesday afternoon.",
        "preposition",
    ),
    split("Do you have any, um,", "sourdough left today?", "filler"),
    split(
        "I think I'd like the",
        "chocolate croissants, please.",
        "article",
    ),
    split(
        "Please send the invoice to",
        "accounts at bakery dot com.",
        "preposition",
    ),
    split(
        "The problem is that the",
        "bread was stale when it arrived.",
        "article",
    ),
    split("Let me think, uh,", "make that three baguettes.", "filler"),
    split("It's spelled m a", "r t i n, Martin.", "spelling"),
    split(
        "I'd like to know whether",
        "you deliver on weekends.",
        "conjunction",
    ),
    split("Can you remind me of", "your address?", "preposition"),
    split(
        "Is it possible to",
        "pick it up at eight in the morning?",
        "preposition",
    ),
    split("My postcode is two one", "zero four five.", "digits"),
];

/// Complete turns (questions, full sentences), spoken by the voices.
pub const COMPLETE_TURNS: &[&str] = &[
    "What time do you open tomorrow?",
    "Do you deliver on Sundays?",
    "I'd like two loaves of rye bread, please.",
    "How much is a chocolate cake?",
    "Thank you, that's all for today.",
    "Can I order a birthday cake for Saturday?",
    "Where is your shop?",
    "Please cancel my order.",
    "Are you open on public holidays?",
    "That sounds great, thanks.",
    "Is the sourdough made with rye flour?",
    "I'll pick it up at five.",
];

/// Complete turns recorded by people (pocketsphinx-testdata): a file, its sample rate and
/// whether it is a WAV (else raw s16le mono), and what is said.
pub const RECORDED_TURNS: &[(&str, u32, bool, &str)] = &[
    (
        "/usr/share/pocketsphinx/test/data/goforward.raw",
        16_000,
        false,
        "go forward ten meters",
    ),
    (
        "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
        16_000,
        true,
        "he was not an ill disposed young man",
    ),
    (
        "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
        16_000,
        true,
        "he might even have been made amiable himself",
    ),
    (
        "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
        16_000,
        true,
        "unless to be rather cold hearted and rather selfish is to be ill disposed",
    ),
];

/// A synthetic voice: an espeak-ng voice at a rate (words per minute), or the Piper voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    Espeak(&'static str, u32),
    Piper,
}

impl Voice {
    pub fn name(self) -> String {
        match self {
            Voice::Espeak(voice, rate) => format!("espeak-ng {voice} -s {rate}"),
            Voice::Piper => "piper en_US-joe-medium".to_string(),
        }
    }
}

/// The voices, taken in turn: accents, female and male variants, slow to fast.
pub const VOICES: &[Voice] = &[
    Voice::Espeak("en-us", 165),
    Voice::Espeak("en-gb", 150),
    Voice::Piper,
    Voice::Espeak("en+f3", 175),
    Voice::Espeak("en-gb-scotland", 140),
    Voice::Espeak("en-us+m3", 190),
    Voice::Espeak("en-gb-x-rp+f2", 160),
    Voice::Espeak("en-029", 155),
    Voice::Espeak("en-us-nyc+f4", 180),
];
