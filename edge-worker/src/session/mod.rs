//! One conversation: a connection's protocol state ([`protocol`]), its socket's deadlines
//! ([`alarm`]) and own turn limit ([`connection_turns`]), the turn core that makes
//! every decision of a reply ([`turn`]), when a turn ends by how its transcript reads
//! ([`end_of_turn`]), the reply cut into speakable chunks ([`sentence`]),
//! what the user heard of an interrupted reply ([`heard`]), the context sent to the LLM
//! ([`conversation`]), the signed session tokens ([`token`]), who may take a conversation over
//! ([`resume`]), and the end of a spoken turn
//! decided from its pauses and transcripts ([`turn_end`]).

pub mod alarm;
pub mod connection_turns;
pub mod conversation;
pub mod end_of_turn;
pub mod heard;
pub mod protocol;
pub mod resume;
pub mod sentence;
pub mod token;
pub mod turn;
pub mod turn_end;
