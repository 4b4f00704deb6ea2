//! Built-in UDP (`pktize --udp`, `unpktize --udp`): one packet per datagram, many datagrams
//! per system call (sendmmsg, recvmmsg), unicast or IPv4 multicast. Netcat and socat decide
//! for themselves where datagrams begin and end; these do not.
//!
//! [`UdpSender`] is a `Write` that takes whole packets back to back (as `pktize` writes
//! them: each packet's length is in its header) and sends each as one datagram.
//! [`UdpReceiver`] fills slots of a buffer with datagrams, waiting at most an idle time.
//! Neither knows what the packets mean.

use crate::wire::HEADER_LEN;
use rustix::net::sockopt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Datagrams per sendmmsg or recvmmsg call.
const BATCH: usize = 64;
/// The receive buffer asked of the kernel: a burst of about 8 MiB of datagrams waits
/// there while the receiver writes or decodes (the kernel caps it unless privileged).
const RECEIVE_BUFFER: usize = 8 << 20;
/// The longest a receiver waits before it looks whether it should stop.
const POLL: Duration = Duration::from_millis(200);

/// Where to send or listen, parsed from `HOST:PORT`, `[IPV6]:PORT` (with `%SCOPE` for a
/// link-local address) or `:PORT` (any IPv4 address).
pub fn parse_addr(text: &str) -> io::Result<SocketAddr> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "expected [ADDRESS]:PORT such as 127.0.0.1:9000 or [::1]:9000, found \"{text}\""
            ),
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
    }
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').ok_or_else(bad)?,
        // An IPv6 address needs its brackets: "::1:9000" could end anywhere.
        None if host.contains(':') => return Err(bad()),
        None => host,
    };
    (host, port)
        .to_socket_addrs()
        .map_err(|_| bad())?
        .next()
        .ok_or_else(bad)
}

/// The local interface multicast leaves from or is joined on: an IPv4 address, or an
/// interface by name (`lo`, `eth0`) or number, which IPv6 needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    Addr(Ipv4Addr),
    Index(u32),
}

impl std::str::FromStr for Interface {
    type Err = String;

    fn from_str(text: &str) -> Result<Interface, String> {
        if let Ok(addr) = text.parse::<Ipv4Addr>() {
            return Ok(Interface::Addr(addr));
        }
        if let Ok(index) = text.parse::<u32>() {
            return Ok(Interface::Index(index));
        }
        let name = std::ffi::CString::new(text).map_err(|_| format!("no interface {text:?}"))?;
        // SAFETY: a NUL-terminated name that lives across the call.
        match unsafe { libc::if_nametoindex(name.as_ptr()) } {
            0 => Err(format!(
                "expected an IPv4 address or an interface name or number, found {text:?} (no such interface)"
            )),
            index => Ok(Interface::Index(index)),
        }
    }
}

/// The interface index for an IPv6 group: the one given, else the address's scope
/// (`ff02::1%lo`), else 0 (the kernel chooses by route).
fn ipv6_interface(to: &SocketAddr, interface: Option<Interface>) -> io::Result<u32> {
    match (interface, to) {
        (Some(Interface::Index(i)), _) => Ok(i),
        (Some(Interface::Addr(a)), _) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("an IPv6 group is joined on an interface named or numbered, not at {a}"),
        )),
        (None, SocketAddr::V6(v6)) => Ok(v6.scope_id()),
        (None, SocketAddr::V4(_)) => Ok(0),
    }
}

fn unspecified(like: &SocketAddr, port: u16) -> SocketAddr {
    match like {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
    }
}

/// Sends whole packets, one per datagram, to one address.
pub struct UdpSender {
    socket: UdpSocket,
    /// Bytes written but not yet sent: whole packets, then perhaps the start of one.
    pending: Vec<u8>,
    /// Send the whole packets of every write at once (the writer paces its writes),
    /// rather than gathering [`SEND_AT`] bytes first.
    paced: bool,
}

/// Pending bytes past which an unpaced sender sends its whole packets.
const SEND_AT: usize = 256 << 10;

impl UdpSender {
    /// A socket connected to `to` (IPv4 or IPv6); `ttl` sets the hop limit (unicast and
    /// multicast), `interface` the one multicast leaves from.
    pub fn connect(
        to: SocketAddr,
        ttl: Option<u32>,
        interface: Option<Interface>,
    ) -> io::Result<UdpSender> {
        let socket = UdpSocket::bind(unspecified(&to, 0))?;
        match to.ip() {
            IpAddr::V4(_) => {
                if let Some(ttl) = ttl {
                    socket.set_ttl(ttl)?;
                    socket.set_multicast_ttl_v4(ttl)?;
                }
                match interface {
                    Some(Interface::Addr(addr)) => sockopt::set_ip_multicast_if(&socket, &addr)?,
                    Some(Interface::Index(i)) => sockopt::set_ip_multicast_if_with_ifindex(
                        &socket,
                        &Ipv4Addr::UNSPECIFIED,
                        &Ipv4Addr::UNSPECIFIED,
                        i,
                    )?,
                    None => {}
                }
            }
            IpAddr::V6(group) => {
                if let Some(ttl) = ttl {
                    let hops = u8::try_from(ttl).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("an IPv6 hop limit is at most 255, found {ttl}"),
                        )
                    })?;
                    sockopt::set_ipv6_unicast_hops(&socket, Some(hops))?;
                    sockopt::set_ipv6_multicast_hops(&socket, ttl)?;
                }
                if group.is_multicast() {
                    let index = ipv6_interface(&to, interface)?;
                    if index != 0 {
                        sockopt::set_ipv6_multicast_if(&socket, index)?;
                    }
                }
            }
        }
        socket.connect(to)?;
        Ok(UdpSender {
            socket,
            pending: Vec::with_capacity(1 << 20),
            paced: false,
        })
    }

    /// Send what each write brings as soon as it is whole packets: its writer paces its
    /// writes, and a batch gathered from several would leave as one burst.
    pub fn paced(self) -> UdpSender {
        UdpSender {
            paced: true,
            ..self
        }
    }

    /// Send every whole packet pending, in batches.
    fn send_whole(&mut self) -> io::Result<()> {
        let mut at = 0;
        loop {
            let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
            let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
            let mut n = 0;
            let mut end = at;
            while n < BATCH && self.pending.len() >= end + HEADER_LEN {
                let payload = u16::from_be_bytes([self.pending[end + 4], self.pending[end + 5]]);
                let len = HEADER_LEN + usize::from(payload);
                if self.pending.len() < end + len {
                    break;
                }
                iov[n] = libc::iovec {
                    iov_base: self.pending[end..].as_mut_ptr().cast(),
                    iov_len: len,
                };
                end += len;
                n += 1;
            }
            if n == 0 {
                break;
            }
            for i in 0..n {
                msgs[i].msg_hdr.msg_iov = &mut iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            let mut sent = 0;
            while sent < n {
                // SAFETY: msgs[sent..n] point into `pending`, which outlives the call.
                let rc = unsafe {
                    libc::sendmmsg(
                        self.socket.as_raw_fd(),
                        msgs[sent..].as_mut_ptr(),
                        (n - sent) as u32,
                        0,
                    )
                };
                if rc < 0 {
                    let e = io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EINTR) => continue,
                        // Nothing listens (an ICMP refusal): the reader went away.
                        Some(libc::ECONNREFUSED) => {
                            return Err(io::Error::new(io::ErrorKind::BrokenPipe, e))
                        }
                        // A full queue: the datagram is lost, as on the wire.
                        Some(libc::ENOBUFS) => {
                            sent += 1;
                            continue;
                        }
                        _ => return Err(e),
                    }
                }
                sent += rc as usize;
            }
            at = end;
        }
        self.pending.drain(..at);
        Ok(())
    }
}

impl Write for UdpSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(buf)])
    }

    /// Takes every slice (one batch of the writer's), then sends what is due.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut taken = 0;
        for b in bufs {
            self.pending.extend_from_slice(b);
            taken += b.len();
        }
        if self.paced || self.pending.len() >= SEND_AT {
            self.send_whole()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_whole()
    }
}

/// Receives datagrams on one port, joined to a multicast group when its address is one.
pub struct UdpReceiver {
    socket: UdpSocket,
    idle: Option<Duration>,
}

impl UdpReceiver {
    /// Listen on `at` (IPv4 or IPv6; a multicast address: join it, on `interface` or
    /// the one the kernel picks); stop waiting after `idle` without a datagram.
    pub fn bind(
        at: SocketAddr,
        interface: Option<Interface>,
        idle: Option<Duration>,
    ) -> io::Result<UdpReceiver> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType};
        let family = match at {
            SocketAddr::V4(_) => AddressFamily::INET,
            SocketAddr::V6(_) => AddressFamily::INET6,
        };
        let fd = rustix::net::socket_with(family, SocketType::DGRAM, SocketFlags::CLOEXEC, None)?;
        let socket = UdpSocket::from(fd);
        // Several receivers of one group on one host share the port.
        sockopt::set_socket_reuseaddr(&socket, true)?;
        if sockopt::set_socket_recv_buffer_size_force(&socket, RECEIVE_BUFFER).is_err() {
            let _ = sockopt::set_socket_recv_buffer_size(&socket, RECEIVE_BUFFER);
        }
        if at.is_ipv6() {
            // Only IPv6: an IPv4 receiver may listen on the same port.
            sockopt::set_ipv6_v6only(&socket, true)?;
        }
        let multicast = at.ip().is_multicast();
        let bind_to = match multicast {
            true => unspecified(&at, at.port()),
            false => at,
        };
        rustix::net::bind(&socket, &bind_to)?;
        match at.ip() {
            IpAddr::V4(group) if multicast => match interface {
                Some(Interface::Index(i)) => sockopt::set_ip_add_membership_with_ifindex(
                    &socket,
                    &group,
                    &Ipv4Addr::UNSPECIFIED,
                    i,
                )?,
                Some(Interface::Addr(a)) => socket.join_multicast_v4(&group, &a)?,
                None => socket.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED)?,
            },
            IpAddr::V6(group) if multicast => {
                socket.join_multicast_v6(&group, ipv6_interface(&at, interface)?)?
            }
            _ => {}
        }
        // Woken this often, to notice a stop request (a signal may not interrupt a wait).
        socket.set_read_timeout(Some(idle.map_or(POLL, |i| i.min(POLL))))?;
        Ok(UdpReceiver { socket, idle })
    }

    /// The local address, with the port the system chose for port 0.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Wait for datagrams (at most the idle time), then take as many as are queued, up to
    /// as many as `buf` has slots of `slot` bytes; `lens` gets their lengths. Returns how
    /// many arrived: 0 when the idle time passed without one.
    pub fn recv_batch(
        &mut self,
        buf: &mut [u8],
        slot: usize,
        lens: &mut Vec<usize>,
    ) -> io::Result<usize> {
        let count = (buf.len() / slot).min(BATCH);
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, chunk) in buf.chunks_exact_mut(slot).take(count).enumerate() {
            iov[i] = libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: slot,
            };
        }
        for i in 0..count {
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        lens.clear();
        let mut waited = Duration::ZERO;
        loop {
            // SAFETY: msgs point into `buf`, which outlives the call. SO_RCVTIMEO bounds
            // the wait for the first datagram; MSG_WAITFORONE takes the rest queued.
            let rc = unsafe {
                libc::recvmmsg(
                    self.socket.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    count as u32,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR | libc::EAGAIN) if crate::io::stop_requested() => {
                        return Ok(0)
                    }
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => {
                        waited += self.socket.read_timeout()?.unwrap_or(POLL);
                        if self.idle.is_some_and(|idle| waited >= idle) {
                            return Ok(0);
                        }
                        continue;
                    }
                    _ => return Err(e),
                }
            }
            let n = rc as usize;
            lens.extend(msgs[..n].iter().map(|m| m.msg_len as usize));
            return Ok(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_in_both_families() {
        let v4: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(parse_addr("127.0.0.1:9000").unwrap(), v4);
        assert_eq!(
            parse_addr(":9000").unwrap(),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9000))
        );
        assert_eq!(
            parse_addr("[::1]:9000").unwrap(),
            SocketAddr::from((Ipv6Addr::LOCALHOST, 9000))
        );
        assert_eq!(
            parse_addr("[ff02::1]:7").unwrap(),
            SocketAddr::from(("ff02::1".parse::<Ipv6Addr>().unwrap(), 7))
        );
        for bad in [
            "::1:9000",
            "[::1:9000",
            "127.0.0.1",
            "127.0.0.1:x",
            "[::1]:70000",
        ] {
            let e = parse_addr(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn interfaces_are_an_address_a_number_or_a_name() {
        assert_eq!(
            "127.0.0.1".parse::<Interface>(),
            Ok(Interface::Addr(Ipv4Addr::LOCALHOST))
        );
        assert_eq!("3".parse::<Interface>(), Ok(Interface::Index(3)));
        // Loopback is interface 1 on Linux.
        assert_eq!("lo".parse::<Interface>(), Ok(Interface::Index(1)));
        assert!("no-such-if0".parse::<Interface>().is_err());
    }

    #[test]
    fn an_ipv6_receiver_gets_what_an_ipv6_sender_sends() {
        let mut rx = UdpReceiver::bind(
            parse_addr("[::1]:0").unwrap(),
            None,
            Some(Duration::from_secs(5)),
        )
        .expect("IPv6 on loopback");
        let to = rx.local_addr().unwrap();
        assert!(to.is_ipv6());
        let mut tx = UdpSender::connect(to, Some(1), None).unwrap();
        // Three packets back to back, as pktize writes them: only the payload length (bytes
        // 4 and 5 of the header) tells the sender where each ends.
        let mut stream = Vec::new();
        for (i, len) in [1000u16, 10, 0].into_iter().enumerate() {
            let mut header = [i as u8; HEADER_LEN];
            header[4..6].copy_from_slice(&len.to_be_bytes());
            stream.extend_from_slice(&header);
            stream.extend(std::iter::repeat_n(i as u8 + 1, len.into()));
        }
        tx.write_all(&stream).unwrap();
        tx.flush().unwrap();
        let mut buf = vec![0u8; 4 << 16];
        let mut lens = Vec::new();
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.concat().len() < stream.len() {
            let n = rx.recv_batch(&mut buf, 1 << 16, &mut lens).unwrap();
            assert!(n > 0, "nothing came");
            for (i, &len) in lens.iter().enumerate() {
                got.push(buf[i << 16..(i << 16) + len].to_vec());
            }
        }
        let lens: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(lens, [HEADER_LEN + 1000, HEADER_LEN + 10, HEADER_LEN]);
        assert_eq!(got.concat(), stream);
    }
}
