//! A TCP proxy whose connections can be cut at once, as a network drop would.

use super::*;

/// A TCP proxy on a free port in front of `target_port`, whose connections can all be cut at
/// once, as a network drop would: a new connection that starts with `GET /__cut` cuts every
/// other connection and is answered `200`. Later connections go through again.
pub struct CuttableProxy {
    pub port: u16,
    cuts: Arc<std::sync::atomic::AtomicUsize>,
}

impl CuttableProxy {
    pub fn start(target_port: u16) -> Self {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let cuts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&cuts);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let mut first = [0u8; 10];
                let n = client.peek(&mut first).unwrap_or(0);
                if &first[..n] == b"GET /__cut" {
                    for s in live.lock().unwrap().drain(..) {
                        let _ = s.shutdown(std::net::Shutdown::Both);
                    }
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut c = client;
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\naccess-control-allow-origin: *\r\nconnection: close\r\n\r\n");
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                {
                    let mut l = live.lock().unwrap();
                    l.push(client.try_clone().unwrap());
                    l.push(upstream.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Self { port, cuts }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// How many times the connections were cut.
    pub fn cuts(&self) -> usize {
        self.cuts.load(std::sync::atomic::Ordering::SeqCst)
    }
}
