//! Per-client connection slots and per-connection activity, so that one client cannot hold
//! the server's connections, and a connection that stopped moving bytes does not hold one.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The unit a per-client limit applies to: an IPv4 address, or the /64 prefix of an IPv6
/// address (one host usually holds a whole /64, so counting single IPv6 addresses would let it
/// open as many connections as it has addresses). IPv4-mapped IPv6 addresses count as IPv4.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Open connections per client.
#[derive(Debug)]
pub struct Clients {
    max_per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its client's count, given back on drop.
#[derive(Debug)]
pub struct ClientSlot {
    clients: Arc<Clients>,
    key: IpAddr,
}

impl Clients {
    pub fn new(max_per_client: usize) -> Arc<Clients> {
        Arc::new(Clients {
            max_per_client,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new connection from `ip`, or `None` when its client has all it may have.
    pub fn try_open(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let key = client_key(ip);
        // Poisoning cannot leave the map inconsistent (each update is one statement).
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.max_per_client {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: self.clone(),
            key,
        })
    }

    /// Clients with at least one connection open.
    pub fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.clients.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            // Forget clients without connections, so the map is bounded by open connections.
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// When a connection last moved a byte, and whether one of its requests is in the handler
/// (being received, bounded by the body timeout, or worked on, when silence is the server's
/// doing): only silence outside of both counts as idle.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    /// Milliseconds after `opened` of the last byte read or written.
    last_ms: AtomicU64,
    working: AtomicUsize,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
            working: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// The moment of the last byte moved (or the opening).
    pub fn last(&self) -> Instant {
        self.opened + std::time::Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Marks a request as in the handler (being received or worked on) until the guard is
    /// dropped.
    pub fn working(self: &Arc<Self>) -> Working {
        self.working.fetch_add(1, Ordering::Relaxed);
        Working(self.clone())
    }

    pub fn is_working(&self) -> bool {
        self.working.load(Ordering::Relaxed) > 0
    }
}

/// See [`Activity::working`].
pub struct Working(Arc<Activity>);

impl Drop for Working {
    fn drop(&mut self) {
        self.0.working.fetch_sub(1, Ordering::Relaxed);
        // The idle clock starts when the work ends, not when the last byte came in.
        self.0.touch();
    }
}

/// A stream that records its [`Activity`] on every read or write that moves bytes.
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Watched<S> {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_client_gets_at_most_its_share_and_gets_it_back() {
        let clients = Clients::new(2);
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let first = clients.try_open(one).unwrap();
        let _second = clients.try_open(one).unwrap();
        assert!(clients.try_open(one).is_none());
        assert!(clients.try_open(other).is_some());
        drop(first);
        assert!(clients.try_open(one).is_some());
        drop(_second);
        assert!(clients.is_empty());
    }
}
