//! An HTTP proxy in front of a speech-to-text server that keeps the audio of every
//! transcription request: what the edge actually sent, to compare with what was played.

use super::*;
use std::io::{Read, Write};

/// A proxy on a free port forwarding `POST`s to `upstream` (`http://127.0.0.1:PORT`) and
/// keeping each request's WAV (the multipart `file` field) as 16-bit samples.
pub struct SttRecorder {
    /// `http://127.0.0.1:PORT`: give this to the edge as the STT base URL.
    pub url: String,
    heard: Arc<Mutex<Vec<Vec<i16>>>>,
}

impl SttRecorder {
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let heard = Arc::new(Mutex::new(Vec::new()));
        let (kept, upstream) = (Arc::clone(&heard), upstream.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (kept, upstream) = (Arc::clone(&kept), upstream.clone());
                std::thread::spawn(move || forward(conn, &upstream, &kept));
            }
        });
        Self { url, heard }
    }

    /// The audio of the requests so far, oldest first; forgets them.
    pub fn take(&self) -> Vec<Vec<i16>> {
        std::mem::take(&mut *self.heard.lock().unwrap())
    }
}

/// One request: read it whole (`content-length` or chunked), keep its WAV, post it upstream,
/// answer with upstream's reply.
fn forward(mut conn: TcpStream, upstream: &str, kept: &Mutex<Vec<Vec<i16>>>) {
    let Some((head, body)) = read_request(&mut conn) else {
        return;
    };
    let line = head.lines().next().unwrap_or_default().to_string();
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let content_type = header(&head, "content-type").unwrap_or_default();
    if let Some(samples) = multipart_wav(&body) {
        kept.lock().unwrap().push(samples);
    }
    let answer = if line.starts_with("POST") {
        ureq::post(&format!("{upstream}{path}"))
            .header("content-type", &content_type)
            .send(&body[..])
    } else {
        ureq::get(&format!("{upstream}{path}")).call()
    };
    let (status, text) = match answer {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (502, String::new()),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut buf).ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..end]).to_string();
    let mut body = data.split_off(end);
    let chunked = header(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let complete = |b: &[u8]| match header(&head, "content-length") {
        _ if chunked => b.ends_with(b"0\r\n\r\n"),
        Some(n) => b.len() >= n.parse().unwrap_or(0),
        None => true,
    };
    while !complete(&body) {
        let n = conn.read(&mut buf).ok().filter(|&n| n > 0)?;
        body.extend_from_slice(&buf[..n]);
    }
    Some((head, if chunked { dechunk(&body) } else { body }))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[(i + 4 + size).min(b.len())..];
    }
    out
}

/// The samples of the WAV inside a multipart body (the first part that is one).
fn multipart_wav(body: &[u8]) -> Option<Vec<i16>> {
    let start = body.windows(4).position(|w| w == b"RIFF")?;
    let reader = hound::WavReader::new(std::io::Cursor::new(&body[start..])).ok()?;
    reader.into_samples::<i16>().map(Result::ok).collect()
}
