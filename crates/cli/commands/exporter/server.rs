//! The exporter's own HTTP/1.1 server (RFC 9112), std only: just enough to answer scrapes,
//! with a bound on everything a client controls.
//!
//! - Threads: one accepts; each connection is read and answered on a thread of its own, at
//!   most [`MAX_CONNECTIONS`] at once. Past that a new connection takes the place of the one
//!   that has waited longest, a second or more, for a whole request (idle keep-alive, silent
//!   since it connected, or sending its request a byte at a time), which is closed; if none
//!   has, the new one gets 503 and is closed at once. So slow clients cannot hold every
//!   slot: a scrape, whose request comes in one piece, always finds room. At most
//!   [`MAX_IN_FLIGHT`] responses are built and written at once (past that a request gets
//!   503).
//! - Time: a request's head and body must arrive within the timeout (10 s unless told),
//!   counted from the connection's start or the end of the previous response — so an idle
//!   keep-alive connection and a client sending one byte a second are both cut off (the
//!   exporter's hidden `--http-timeout`); a response must be written within the same time.
//! - Size: the head (request line and headers) at most [`MAX_HEAD`] bytes (431), a body at
//!   most [`MAX_BODY`] (413): scrapes have none, so a body is read and thrown away.
//! - Parsing: a request line `METHOD TARGET HTTP/1.x`, the target in origin form
//!   (`/metrics?x`), absolute form (`http://host:9435/metrics`) or `*`; any other version is
//!   505, anything malformed 400; header names case-insensitive; a body framed by
//!   `Content-Length` or `Transfer-Encoding: chunked` (both, or any other coding, is 400:
//!   the ambiguity request smuggling relies on). Keep-alive as HTTP/1.1 says: 1.1 keeps the
//!   connection unless `Connection: close`, 1.0 closes it unless `Connection: keep-alive`.
//!   An error status closes the connection.
//!
//! The handler decides the answer from the parsed [`Request`]; this file adds the framing
//! (`Content-Length` on every response, `Date`, `Connection`) and drops the body for `HEAD`.

use std::{
    io::{self, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Connections served at once, at most.
pub const MAX_CONNECTIONS: usize = 64;

/// Responses being built and written at once, at most.
pub const MAX_IN_FLIGHT: usize = 16;

/// The longest request head (request line and headers), in bytes.
pub const MAX_HEAD: usize = 8 << 10;

/// The largest request body read (and thrown away).
pub const MAX_BODY: u64 = 64 << 10;

/// How long a connection must have waited for a whole request before a new connection may
/// take its place.
const MIN_WAIT: Duration = Duration::from_secs(1);

/// The longest a closing connection's unread input is drained, so that the client reads the
/// last response rather than a reset.
const LINGER: Duration = Duration::from_secs(1);

/// A parsed request head.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub method: String,
    /// The target's path: `/metrics` for `/metrics?x=1` and `http://host/metrics`; `*` for `*`.
    pub path: String,
    /// `HTTP/1.<minor>`.
    pub minor: u8,
    /// As sent, names in their case.
    pub headers: Vec<(String, String)>,
    body: Body,
    keep_alive: bool,
}

/// How a request's body is framed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Body {
    Length(u64),
    Chunked,
}

/// What the handler answers.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Besides `Content-Length`, `Date` and `Connection`, which the server adds.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A plain-text response.
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

/// Answers requests: called on a connection's thread.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// A request refused before the handler: its status and why.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub why: &'static str,
}

fn refuse<T>(status: u16, why: &'static str) -> Result<T, Refusal> {
    Err(Refusal { status, why })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// A token character (RFC 9110 §5.6.2): method and header names.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Where the head in `buf` ends (past its empty line), if it has arrived. Empty lines
/// before the request line are skipped (RFC 9112 §2.2); a line ends in CRLF or LF.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let start = buf.iter().position(|b| !matches!(b, b'\r' | b'\n'))?;
    let mut at = start;
    while let Some(nl) = buf[at..].iter().position(|b| *b == b'\n') {
        let next = at + nl + 1;
        match buf.get(next) {
            Some(b'\n') => return Some(next + 1),
            Some(b'\r') if buf.get(next + 1) == Some(&b'\n') => return Some(next + 2),
            _ => at = next,
        }
    }
    None
}

/// Parses a request head (as [`head_end`] delimits it).
pub fn parse_head(head: &[u8]) -> Result<Request, Refusal> {
    if head.len() > MAX_HEAD {
        return refuse(431, "the request head is over 8 KiB");
    }
    // Header values may hold bytes past ASCII (obs-text); the request line and header names
    // are checked for ASCII below.
    let text = String::from_utf8_lossy(head);
    let mut lines = text.trim_start_matches(['\r', '\n']).split('\n').map(|line| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.contains('\r') {
            refuse(400, "a bare CR in the request head")
        } else {
            Ok(line)
        }
    });
    let request_line = lines.next().unwrap_or(Ok(""))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return refuse(400, "the request line is not `METHOD TARGET HTTP/1.1`");
    };
    if !is_token(method) {
        return refuse(400, "the method is not a token");
    }
    let minor = match version.as_bytes() {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return refuse(505, "only HTTP/1.0 and HTTP/1.1 are served");
        }
        _ => return refuse(400, "the request line is not `METHOD TARGET HTTP/1.1`"),
    };
    let path = parse_target(target)?;
    let mut headers = Vec::new();
    for line in lines {
        let line = line?;
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            return refuse(400, "a folded header line");
        }
        let Some((name, value)) = line.split_once(':') else {
            return refuse(400, "a header line without a colon");
        };
        if !is_token(name) {
            return refuse(400, "a header name that is not a token");
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return refuse(400, "a control character in a header value");
        }
        headers.push((name.to_string(), value.to_string()));
    }
    let named =
        |name: &'static str| headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name));
    let hosts = named("Host").count();
    if hosts > 1 || (minor == 1 && hosts == 0) {
        return refuse(400, "an HTTP/1.1 request needs one Host header");
    }
    let mut length: Option<u64> = None;
    for (_, value) in named("Content-Length") {
        // `Content-Length: 5, 5` is one length; two different ones are not.
        for item in value.split(',').map(|v| v.trim_matches([' ', '\t'])) {
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return refuse(400, "Content-Length is not a number");
            }
            // Past u64 is past any limit too.
            let n = item.parse::<u64>().unwrap_or(u64::MAX);
            if length.is_some_and(|l| l != n) {
                return refuse(400, "two different Content-Length values");
            }
            length = Some(n);
        }
    }
    let codings: Vec<String> = named("Transfer-Encoding")
        .flat_map(|(_, v)| v.split(','))
        .map(|c| c.trim_matches([' ', '\t']).to_ascii_lowercase())
        .collect();
    let body = if codings.is_empty() {
        Body::Length(length.unwrap_or(0))
    } else if minor == 0 {
        return refuse(400, "Transfer-Encoding in an HTTP/1.0 request");
    } else if length.is_some() {
        return refuse(400, "both Transfer-Encoding and Content-Length");
    } else if codings.len() != 1 || codings[0] != "chunked" {
        return refuse(400, "a Transfer-Encoding other than chunked");
    } else {
        Body::Chunked
    };
    if matches!(body, Body::Length(n) if n > MAX_BODY) {
        return refuse(413, "a request body over 64 KiB");
    }
    let connection = |token: &str| {
        named("Connection").any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    let keep_alive = if minor == 1 { !connection("close") } else { connection("keep-alive") };
    Ok(Request { method: method.to_string(), path, minor, headers, body, keep_alive })
}

/// The path of a request target: origin form (`/metrics?x`), absolute form
/// (`http://host:port/metrics`, any scheme), or `*`.
fn parse_target(target: &str) -> Result<String, Refusal> {
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return refuse(400, "the request target has a character that is not visible ASCII");
    }
    let path = if target.starts_with('/') || target == "*" {
        target
    } else if let Some((scheme, rest)) = target.split_once("://") {
        if !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
            return refuse(400, "the request target is not a path or an absolute URI");
        }
        match rest.find(['/', '?', '#']) {
            Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
            _ => "/",
        }
    } else {
        return refuse(400, "the request target is not a path or an absolute URI");
    };
    Ok(path.split(['?', '#']).next().unwrap_or("").to_string())
}

/// A connection's byte stream: a TCP stream, or a script of bytes in tests.
pub trait Stream: Read + Write {
    /// The longest the next read may wait.
    fn set_read_wait(&mut self, wait: Duration) -> io::Result<()>;
    /// Ends the sending side (the client reads the end of the last response).
    fn close_write(&mut self);
    /// Whether the connection waits for the rest of a request (from its accept or the end
    /// of the last response until a whole request has come): such a connection may be
    /// closed to make room for a new one.
    fn set_waiting(&mut self, _waiting: bool) {}
}

impl Stream for TcpStream {
    fn set_read_wait(&mut self, wait: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
    }

    fn close_write(&mut self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

/// Why a read ended.
#[derive(Debug)]
enum Stop {
    /// The client closed its side.
    Closed,
    /// The deadline passed.
    TimedOut,
    /// A read failed otherwise (a reset).
    Failed,
    /// The request is refused.
    Refused(Refusal),
}

/// The reading side of a connection: its buffer (what arrived past the current request
/// stays for the next one) and the current request's deadline.
struct Reader<'a, S> {
    stream: &'a mut S,
    buf: Vec<u8>,
    deadline: Instant,
}

impl<S: Stream> Reader<'_, S> {
    /// Reads more into the buffer.
    fn fill(&mut self) -> Result<(), Stop> {
        let mut chunk = [0u8; 4096];
        loop {
            let wait = self.deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return Err(Stop::TimedOut);
            }
            self.stream.set_read_wait(wait).map_err(|_| Stop::Failed)?;
            return match self.stream.read(&mut chunk) {
                Ok(0) => Err(Stop::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
                {
                    Err(Stop::TimedOut)
                }
                Err(_) => Err(Stop::Failed),
            };
        }
    }

    /// The next request's head, taken out of the buffer.
    fn head(&mut self) -> Result<Request, Stop> {
        loop {
            if let Some(end) = head_end(&self.buf) {
                let request = parse_head(&self.buf[..end]).map_err(Stop::Refused);
                self.buf.drain(..end);
                return request;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Stop::Refused(Refusal {
                    status: 431,
                    why: "the request head is over 8 KiB",
                }));
            }
            self.fill()?;
        }
    }

    /// Throws `n` bytes of body away.
    fn discard(&mut self, mut n: u64) -> Result<(), Stop> {
        loop {
            let here = self.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            self.buf.drain(..here);
            n -= here as u64;
            if n == 0 {
                return Ok(());
            }
            self.fill()?;
        }
    }

    /// One line (without its CRLF or LF), at most `limit` bytes.
    fn line(&mut self, limit: usize) -> Result<Vec<u8>, Stop> {
        loop {
            if let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > limit {
                    break;
                }
                return Ok(line);
            }
            if self.buf.len() > limit + 1 {
                break;
            }
            self.fill()?;
        }
        Err(Stop::Refused(Refusal { status: 400, why: "a chunk line is too long" }))
    }

    /// Throws a chunked body away (RFC 9112 §7.1), at most [`MAX_BODY`] of data.
    fn discard_chunked(&mut self) -> Result<(), Stop> {
        let bad = |why| Stop::Refused(Refusal { status: 400, why });
        let mut total = 0u64;
        loop {
            let line = self.line(1024)?;
            let size = line.split(|b| *b == b';').next().unwrap_or(&[]);
            let size = std::str::from_utf8(size).map_err(|_| bad("a chunk size is not hex"))?;
            let size = size.trim_end_matches([' ', '\t']);
            if size.is_empty() || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("a chunk size is not hex"));
            }
            // Past u64 is past the limit too.
            let size = u64::from_str_radix(size, 16).unwrap_or(u64::MAX);
            total = total.saturating_add(size);
            if total > MAX_BODY {
                return Err(Stop::Refused(Refusal {
                    status: 413,
                    why: "a request body over 64 KiB",
                }));
            }
            if size == 0 {
                break;
            }
            self.discard(size)?;
            if !self.line(0)?.is_empty() {
                return Err(bad("a chunk does not end with CRLF"));
            }
        }
        // Trailer fields, up to an empty line.
        let mut trailers = 0;
        loop {
            let line = self.line(MAX_HEAD)?;
            trailers += line.len() + 2;
            if trailers > MAX_HEAD {
                return Err(Stop::Refused(Refusal { status: 431, why: "trailers over 8 KiB" }));
            }
            if line.is_empty() {
                return Ok(());
            }
        }
    }
}

/// Today's date as HTTP writes it (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86400) as i64;
    let (hour, minute, second) = (secs % 86400 / 3600, secs % 3600 / 60, secs % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{}, {day:02} {} {year} {hour:02}:{minute:02}:{second:02} GMT",
        WEEKDAYS[(days.rem_euclid(7)) as usize],
        MONTHS[(month - 1) as usize]
    )
}

/// A response's bytes: status line, headers, and the body unless `head_only`.
pub fn render(response: &Response, keep_alive: bool, minor: u8, head_only: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    out.push_str(&format!("Date: {}\r\n", http_date(SystemTime::now())));
    if !keep_alive {
        out.push_str("Connection: close\r\n");
    } else if minor == 0 {
        out.push_str("Connection: keep-alive\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    if !head_only {
        out.extend_from_slice(&response.body);
    }
    out
}

/// Serves one connection until it closes, times out or errs.
pub fn converse<S: Stream>(
    stream: &mut S,
    handler: &dyn Fn(&Request) -> Response,
    in_flight: &AtomicUsize,
    timeout: Duration,
) {
    let mut reader = Reader { stream, buf: Vec::new(), deadline: Instant::now() + timeout };
    loop {
        reader.deadline = Instant::now() + timeout;
        let mut head_done = false;
        let request = reader.head().and_then(|request| {
            head_done = true;
            match request.body {
                Body::Length(n) => reader.discard(n)?,
                Body::Chunked => reader.discard_chunked()?,
            }
            Ok(request)
        });
        reader.stream.set_waiting(false);
        let request = match request {
            Ok(request) => request,
            Err(stop) => {
                let refusal = match stop {
                    Stop::Refused(refusal) => refusal,
                    // Part of a request, then nothing: say so.
                    Stop::TimedOut if head_done || !reader.buf.is_empty() => {
                        Refusal { status: 408, why: "the request did not arrive in time" }
                    }
                    Stop::Closed if head_done || !reader.buf.is_empty() => {
                        Refusal { status: 400, why: "the connection closed inside a request" }
                    }
                    Stop::TimedOut | Stop::Closed | Stop::Failed => return,
                };
                let response = Response::text(refusal.status, &format!("{}\n", refusal.why));
                let _ = reader.stream.write_all(&render(&response, false, 1, false));
                linger(reader.stream, &mut reader.buf);
                return;
            }
        };
        let head_only = request.method == "HEAD";
        let (response, keep_alive) = if in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
            (Response::text(503, "busy: too many scrapes at once\n"), false)
        } else {
            (handler(&request), request.keep_alive)
        };
        let written =
            reader.stream.write_all(&render(&response, keep_alive, request.minor, head_only));
        in_flight.fetch_sub(1, Ordering::SeqCst);
        if written.is_err() {
            return;
        }
        if !keep_alive {
            linger(reader.stream, &mut reader.buf);
            return;
        }
        // Waiting again, for the next request (the wait for the first began at the accept).
        reader.stream.set_waiting(true);
    }
}

/// Ends a connection gently: the sending side first, then what the client still sends is
/// read and dropped for a moment (closing with unread input would reset the connection,
/// and the client might lose the response).
fn linger<S: Stream>(stream: &mut S, buf: &mut Vec<u8>) {
    let _ = stream.flush();
    stream.close_write();
    buf.clear();
    let mut reader = Reader { stream, buf: std::mem::take(buf), deadline: Instant::now() + LINGER };
    while reader.fill().is_ok() {
        reader.buf.clear();
    }
}

/// A served connection as the accept thread sees it.
struct Entry {
    id: u64,
    /// A handle on the same socket, to close it from the accept thread.
    stream: TcpStream,
    /// Since when (ms from `listen`'s start, + 1) it has waited for a whole request; 0 while
    /// one is answered.
    waiting_since: Arc<AtomicU64>,
}

/// The connections being served.
#[derive(Default)]
struct Connections {
    next_id: u64,
    list: Vec<Entry>,
}

impl Connections {
    /// Closes the connection that has waited longest, at least [`MIN_WAIT`], for a whole
    /// request (an idle keep-alive connection, one that never sent anything, or one sending
    /// its request slowly): its thread sees the end and frees its slot. Whether there was
    /// one. (The wait tells a slow client from one whose request has come but whose thread
    /// has not read it yet.)
    fn evict_waiting(&mut self, now_ms: u64) -> bool {
        let min_wait = MIN_WAIT.as_millis() as u64;
        loop {
            let oldest = (self.list.iter())
                .map(|e| (e.waiting_since.load(Ordering::SeqCst), e))
                .filter(|(since, _)| *since != 0 && now_ms.saturating_sub(*since) >= min_wait)
                .min_by_key(|(since, _)| *since);
            let Some((since, entry)) = oldest else { return false };
            // Claimed unless its thread has just taken a whole request: then look again.
            let claimed =
                entry.waiting_since.compare_exchange(since, 0, Ordering::SeqCst, Ordering::SeqCst);
            if claimed.is_ok() {
                let _ = entry.stream.shutdown(std::net::Shutdown::Both);
                return true;
            }
        }
    }
}

/// A connection's socket, with its waiting time the accept thread reads.
struct Served {
    stream: TcpStream,
    waiting_since: Arc<AtomicU64>,
    start: Instant,
}

impl Read for Served {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for Served {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl Stream for Served {
    fn set_read_wait(&mut self, wait: Duration) -> io::Result<()> {
        self.stream.set_read_wait(wait)
    }
    fn close_write(&mut self) {
        self.stream.close_write();
    }
    fn set_waiting(&mut self, waiting: bool) {
        let since = if waiting { self.start.elapsed().as_millis() as u64 + 1 } else { 0 };
        self.waiting_since.store(since, Ordering::SeqCst);
    }
}

/// Counts a connection while it lives.
struct Slot {
    count: Arc<AtomicUsize>,
    connections: Arc<Mutex<Connections>>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut connections) = self.connections.lock() {
            connections.list.retain(|e| e.id != self.id);
        }
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Binds `addr` and serves connections with `handler` on other threads until the process
/// ends; returns the address bound (the port is known when `addr` asks for port 0).
pub fn listen(
    addr: &str,
    timeout: Duration,
    handler: Handler,
) -> anyhow::Result<std::net::SocketAddr> {
    let listener =
        TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let count = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(Mutex::new(Connections::default()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    thread::Builder::new().name("http".into()).spawn(move || loop {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors, or the client gone already: a moment, then on.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let _ = stream.set_write_timeout(Some(timeout));
        let _ = stream.set_nodelay(true);
        let Ok(mut connections_now) = connections.lock() else { return };
        // Full: a connection waiting for its request makes room (its thread ends at once;
        // until then one more thread runs), else the new one is refused.
        let room = count.load(Ordering::SeqCst) < MAX_CONNECTIONS
            || connections_now.evict_waiting(start.elapsed().as_millis() as u64 + 1);
        let handle = stream.try_clone();
        let (true, Ok(handle)) = (room, handle) else {
            drop(connections_now);
            // A fresh connection's send buffer is empty: this write does not block.
            let busy = Response::text(503, "busy: too many connections\n");
            let _ = stream.write_all(&render(&busy, false, 1, false));
            stream.close_write();
            // What already came is read (without waiting): closing with unread input would
            // reset the connection, and the client might lose the 503.
            let _ = stream.set_nonblocking(true);
            let _ = stream.read(&mut [0u8; 4096]);
            continue;
        };
        count.fetch_add(1, Ordering::SeqCst);
        // Waiting for its first request since now: connections waiting as long give way
        // in the order they came.
        let now_ms = start.elapsed().as_millis() as u64 + 1;
        let (id, waiting_since) = (connections_now.next_id, Arc::new(AtomicU64::new(now_ms)));
        connections_now.next_id += 1;
        connections_now.list.push(Entry {
            id,
            stream: handle,
            waiting_since: Arc::clone(&waiting_since),
        });
        drop(connections_now);
        let slot = Slot { count: Arc::clone(&count), connections: Arc::clone(&connections), id };
        let (handler, in_flight) = (Arc::clone(&handler), Arc::clone(&in_flight));
        let spawned = thread::Builder::new().name("http-conn".into()).stack_size(256 << 10).spawn(
            move || {
                let _slot = slot;
                let mut served = Served { stream, waiting_since, start };
                converse(&mut served, &*handler, &in_flight, timeout);
            },
        );
        if spawned.is_err() {
            eprintln!("WARNING: bpfscope exporter: cannot start a thread for a connection");
        }
    })?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection's script: the client's bytes, handed out `step` at a time, then an end
    /// (`Closed`) or, with `stall`, a timeout; the server's bytes collected.
    struct Script {
        input: Vec<u8>,
        at: usize,
        step: usize,
        stall: bool,
        output: Vec<u8>,
        write_closed: bool,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.input.len() && self.stall {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = self.step.min(buf.len()).min(self.input.len() - self.at);
            buf[..n].copy_from_slice(&self.input[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            assert!(!self.write_closed, "a write after the sending side was closed");
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Stream for Script {
        fn set_read_wait(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
        fn close_write(&mut self) {
            self.write_closed = true;
        }
    }

    fn handler(request: &Request) -> Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET" | "HEAD", "/metrics") => Response::text(200, "metrics\n"),
            ("GET" | "HEAD", _) => Response::text(404, "not found\n"),
            _ => Response::text(405, "no\n"),
        }
    }

    /// The server's answer to `input`, sent `step` bytes at a time, then closed (or stalled):
    /// the whole output with `Date` headers removed, and whether it closed its side.
    fn exchange_with(input: &[u8], step: usize, stall: bool) -> (String, bool) {
        let mut script = Script {
            input: input.to_vec(),
            at: 0,
            step,
            stall,
            output: Vec::new(),
            write_closed: false,
        };
        converse(&mut script, &handler, &AtomicUsize::new(0), Duration::from_secs(5));
        let text = String::from_utf8(script.output).expect("UTF-8 output");
        let text: Vec<&str> = text.split("\r\n").filter(|l| !l.starts_with("Date: ")).collect();
        (text.join("\r\n"), script.write_closed)
    }

    fn exchange(input: &str) -> String {
        exchange_with(input.as_bytes(), 4096, false).0
    }

    /// The status lines of `output`, in order.
    fn statuses(output: &str) -> Vec<&str> {
        output.lines().filter(|l| l.starts_with("HTTP/")).collect()
    }

    #[test]
    fn get_metrics_and_keep_alive() {
        let out = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 8\r\n\r\nmetrics\n"
        );
        // HTTP/1.0 closes unless asked; then it says keep-alive.
        let out = exchange("GET /metrics HTTP/1.0\r\n\r\n");
        assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
        let out = exchange("GET /metrics HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(out.contains("\r\nConnection: keep-alive\r\n"), "{out}");
        // 1.1 keeps the connection unless `Connection: close`.
        let out = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nconnection: foo, CLOSE\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(statuses(&out), ["HTTP/1.1 200 OK"], "{out}");
        assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    }

    #[test]
    fn pipelined_requests_each_answered_in_order() {
        let out = exchange(
            "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert_eq!(
            statuses(&out),
            ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"]
        );
        // HEAD: the GET's headers (its Content-Length), no body.
        assert_eq!(out.matches("metrics\n").count(), 1, "{out}");
        assert_eq!(out.matches("Content-Length: 8\r\n").count(), 2, "{out}");
    }

    #[test]
    fn one_byte_at_a_time() {
        let input = b"\r\nGET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /metrics HTTP/1.1\nHost: x\n\n";
        let (out, _) = exchange_with(input, 1, false);
        assert_eq!(statuses(&out), ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"], "{out}");
    }

    #[test]
    fn targets() {
        let path = |target: &str| parse_target(target).map_err(|r| r.status);
        assert_eq!(path("/metrics?x=1"), Ok("/metrics".into()));
        assert_eq!(path("http://127.0.0.1:9435/metrics"), Ok("/metrics".into()));
        assert_eq!(path("HTTP://host/metrics?a#b"), Ok("/metrics".into()));
        assert_eq!(path("http://host"), Ok("/".into()));
        assert_eq!(path("http://host?x/metrics"), Ok("/".into()));
        assert_eq!(path("*"), Ok("*".into()));
        assert_eq!(path("metrics"), Err(400));
        assert_eq!(path("/metr\u{e9}"), Err(400));
        let out = exchange("GET http://localhost:9435/metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(statuses(&out), ["HTTP/1.1 200 OK"]);
        let out = exchange("GET /metrics/x HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(statuses(&out), ["HTTP/1.1 404 Not Found"]);
    }

    /// The status line and whether the server closed, for one request.
    fn refused(input: &str) -> (String, bool) {
        let (out, closed) = exchange_with(input.as_bytes(), 4096, true);
        (statuses(&out).join(" | "), closed)
    }

    #[test]
    fn versions() {
        for version in ["HTTP/2.0", "HTTP/3.0", "HTTP/0.9", "HTTP/1.2"] {
            let (status, closed) = refused(&format!("GET /metrics {version}\r\nHost: x\r\n\r\n"));
            assert_eq!(
                (status.as_str(), closed),
                ("HTTP/1.1 505 HTTP Version Not Supported", true)
            );
        }
        for line in [
            "GET /metrics HTTP/1",
            "GET /metrics http/1.1",
            "GET /metrics",
            "GET  /metrics HTTP/1.1",
            "GET /metrics HTTP/1.1 x",
            "G(T /metrics HTTP/1.1",
            "\x00\x01garbage",
            "BLAH",
        ] {
            let (status, closed) = refused(&format!("{line}\r\nHost: x\r\n\r\n"));
            assert_eq!((status.as_str(), closed), ("HTTP/1.1 400 Bad Request", true), "{line:?}");
        }
    }

    #[test]
    fn headers() {
        let bad = |headers: &str| refused(&format!("GET /metrics HTTP/1.1\r\n{headers}\r\n"));
        let bad400 = ("HTTP/1.1 400 Bad Request".to_string(), true);
        assert_eq!(bad(""), bad400, "no Host");
        assert_eq!(bad("Host: a\r\nHost: b\r\n"), bad400, "two Hosts");
        assert_eq!(bad("Host: x\r\nNo colon\r\n"), bad400);
        assert_eq!(bad("Host: x\r\nBad name: 1\r\n"), bad400);
        assert_eq!(bad("Host: x\r\n folded\r\n"), bad400);
        assert_eq!(bad("Host: x\r\nA: b\rc\r\n"), bad400, "bare CR");
        assert_eq!(bad("Host: x\r\nContent-Length: -1\r\n"), bad400);
        assert_eq!(bad("Host: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n"), bad400);
        assert_eq!(bad("Host: x\r\nTransfer-Encoding: gzip\r\n"), bad400);
        assert_eq!(bad("Host: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n"), bad400);
        // The same length twice is one length; HTTP/1.0 needs no Host.
        let out = exchange("GET /metrics HTTP/1.1\r\nhOsT: x\r\nContent-Length: 2, 2\r\n\r\nab");
        assert_eq!(statuses(&out), ["HTTP/1.1 200 OK"], "{out}");
        let out = exchange("GET /metrics HTTP/1.0\r\n\r\n");
        assert_eq!(statuses(&out), ["HTTP/1.1 200 OK"], "{out}");
        // Bytes past ASCII in a value (obs-text) are let through; in a name or the method not.
        let (out, _) =
            exchange_with(b"GET /metrics HTTP/1.0\r\nUser-Agent: caf\xe9\r\n\r\n", 4096, false);
        assert_eq!(statuses(&out), ["HTTP/1.1 200 OK"], "{out}");
        assert_eq!(bad("Host: x\r\nN\u{e9}: 1\r\n"), bad400);
        let (status, _) =
            refused("GET /metrics HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 400 Bad Request");
    }

    #[test]
    fn limits() {
        // A head over 8 KiB: 431, whether it ends or not.
        let long =
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(refused(&long), ("HTTP/1.1 431 Request Header Fields Too Large".into(), true));
        assert_eq!(
            refused(&long[..long.len() - 4]),
            ("HTTP/1.1 431 Request Header Fields Too Large".into(), true)
        );
        // A body over 64 KiB: 413 before any of it is read.
        for length in ["65537", "999999999999999", "99999999999999999999999"] {
            let request =
                format!("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n");
            assert_eq!(refused(&request), ("HTTP/1.1 413 Content Too Large".into(), true));
        }
        // 64 KiB exactly is read and thrown away: the method is what is refused.
        let request = format!(
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n{}GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            "b".repeat(65536)
        );
        let (out, _) = exchange_with(request.as_bytes(), 4096, false);
        assert_eq!(statuses(&out), ["HTTP/1.1 405 Method Not Allowed", "HTTP/1.1 200 OK"]);
    }

    #[test]
    fn chunked_bodies() {
        let request = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: 1\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        let (out, _) = exchange_with(request.as_bytes(), 3, false);
        assert_eq!(statuses(&out), ["HTTP/1.1 405 Method Not Allowed", "HTTP/1.1 200 OK"], "{out}");
        let chunked = |body: &str| {
            refused(&format!(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
            ))
        };
        let bad400 = ("HTTP/1.1 400 Bad Request".to_string(), true);
        assert_eq!(chunked("zz\r\n"), bad400);
        assert_eq!(chunked("\r\n"), bad400);
        assert_eq!(chunked("3\r\nabcX\r\n0\r\n\r\n"), bad400, "no CRLF after the data");
        assert_eq!(chunked(&format!("{}\r\n", "1".repeat(2000))), bad400, "a long size line");
        assert_eq!(
            chunked("ffffffffffffffffffff\r\n"),
            ("HTTP/1.1 413 Content Too Large".into(), true)
        );
        assert_eq!(chunked("8000\r\n"), ("HTTP/1.1 408 Request Timeout".into(), true), "no data");
        let over = format!("8000\r\n{}\r\n8001\r\n", "a".repeat(0x8000));
        assert_eq!(chunked(&over), ("HTTP/1.1 413 Content Too Large".into(), true));
    }

    #[test]
    fn timeouts_and_closes() {
        // Nothing sent, then a timeout or an end: closed without a word.
        assert_eq!(exchange_with(b"", 1, true), (String::new(), false));
        assert_eq!(exchange_with(b"", 1, false), (String::new(), false));
        // Part of a request, then a timeout: 408; then an end: 400.
        assert_eq!(refused("GET /metr"), ("HTTP/1.1 408 Request Timeout".into(), true));
        assert_eq!(
            refused("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab"),
            ("HTTP/1.1 408 Request Timeout".into(), true)
        );
        let (out, closed) = exchange_with(b"GET /metr", 1, false);
        assert_eq!((statuses(&out), closed), (vec!["HTTP/1.1 400 Bad Request"], true));
        // After a full answer, an idle keep-alive connection is closed without a word.
        let (out, _) = exchange_with(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 4096, true);
        assert_eq!(statuses(&out), ["HTTP/1.1 200 OK"]);
    }

    #[test]
    fn busy() {
        let in_flight = AtomicUsize::new(MAX_IN_FLIGHT);
        let mut script = Script {
            input: b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            at: 0,
            step: 4096,
            stall: false,
            output: Vec::new(),
            write_closed: false,
        };
        converse(&mut script, &handler, &in_flight, Duration::from_secs(1));
        let out = String::from_utf8(script.output).unwrap();
        assert!(out.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{out}");
        assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
        assert_eq!(in_flight.load(Ordering::SeqCst), MAX_IN_FLIGHT);
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
