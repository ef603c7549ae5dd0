//! Which hosts a tenant's provider and webhook URLs may name: the server-side request forgery
//! (SSRF) part of the URL policy. Plain Rust, tested on the host.
//!
//! The host is taken from a URL parsed by the WHATWG-conformant `url` crate, the parser browsers
//! and workerd's `fetch` follow, so every spelling of an address reaches this check already
//! normalised: `127.1`, `2130706433`, `0x7f.1` and `017700000001` are all `127.0.0.1`;
//! `[::ffff:127.0.0.1]` is `::ffff:7f00:1`; names are lower case and IDNA-encoded.
//!
//! Refused: IP literals outside public unicast space (private, loopback, link-local, shared
//! address space, documentation, benchmarking, multicast, reserved; IPv4 inside IPv6), names
//! that only resolve inside a network (`localhost`, `*.internal`, `*.svc`, `*.local`, ...),
//! single-label names, and public wildcard-DNS services that answer any address a name spells
//! (`127.0.0.1.nip.io`). A public name whose DNS answers a private address is not caught here:
//! that is left to the platform (a Worker's `fetch` runs on Cloudflare's network, not inside
//! the customer's).

use std::net::{Ipv4Addr, Ipv6Addr};

use url::Host;

/// What a URL's host is, for the URL policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostClass {
    /// A public name or a public unicast address.
    Public,
    /// This machine: `127.0.0.0/8`, `::1` (and IPv4-mapped loopback), `localhost`,
    /// `*.localhost`. Allowed only by the local-development policy.
    Loopback,
    /// Anything else that must never be fetched; the text says why (it goes into the admin
    /// API's error, so it names a range or kind, never the host).
    Refused(&'static str),
}

/// Classifies a parsed URL host.
pub fn classify(host: &Host<&str>) -> HostClass {
    match host {
        Host::Ipv4(ip) => classify_v4(*ip),
        Host::Ipv6(ip) => classify_v6(*ip),
        Host::Domain(name) => classify_name(name),
    }
}

const PRIVATE_V4: &str = "a private or reserved IPv4 address";
const PRIVATE_V6: &str = "a private or reserved IPv6 address";

fn classify_v4(ip: Ipv4Addr) -> HostClass {
    let [a, b, c, _] = ip.octets();
    let refused = match (a, b, c) {
        (127, _, _) => return HostClass::Loopback,
        (0, _, _) => true,                                 // "this network"
        (10, _, _) => true,                                // private
        (100, 64..=127, _) => true,                        // shared address space (CGNAT)
        (169, 254, _) => true,                             // link-local, cloud metadata
        (172, 16..=31, _) => true,                         // private
        (192, 0, 0) | (192, 0, 2) | (192, 88, 99) => true, // IETF, TEST-NET-1, 6to4 relay
        (192, 168, _) => true,                             // private
        (198, 18..=19, _) => true,                         // benchmarking
        (198, 51, 100) | (203, 0, 113) => true,            // TEST-NET-2, TEST-NET-3
        (224..=255, _, _) => true,                         // multicast, reserved, broadcast
        _ => false,
    };
    if refused {
        HostClass::Refused(PRIVATE_V4)
    } else {
        HostClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> HostClass {
    if ip == Ipv6Addr::LOCALHOST {
        return HostClass::Loopback;
    }
    // IPv4-mapped (`::ffff:a.b.c.d`): the address is the IPv4 one, so loopback stays loopback
    // and anything else is refused (a public IPv4 host has no reason to be written this way).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return match classify_v4(v4) {
            HostClass::Loopback => HostClass::Loopback,
            _ => HostClass::Refused(PRIVATE_V6),
        };
    }
    let s = ip.segments();
    // Only global unicast (2000::/3) is public; within it, the blocks that are not.
    let global_unicast = s[0] & 0xe000 == 0x2000;
    let special = match s[0] {
        0x2001 => s[1] < 0x0200 || s[1] == 0x0db8, // IETF protocol assignments (Teredo...), documentation
        0x2002 => true,                            // 6to4: embeds any IPv4
        0x3ff0..=0x3fff => true,                   // 3fff::/20 documentation
        _ => false,
    };
    if global_unicast && !special {
        HostClass::Public
    } else {
        // ::, ::/96, 64:ff9b::/96, 100::/64, fc00::/7 (ULA), fe80::/10 (link-local),
        // fec0::/10, ff00::/8 (multicast), and the blocks above.
        HostClass::Refused(PRIVATE_V6)
    }
}

/// Top-level names that resolve only inside a network (RFC 6761, RFC 6762 appendix G,
/// ICANN's `.internal`, Kubernetes' `svc`), compared after the trailing dot is dropped.
const INTERNAL_SUFFIXES: [&str; 13] = [
    "local",
    "internal",
    "svc",
    "localdomain",
    "home.arpa",
    "arpa",
    "lan",
    "intranet",
    "corp",
    "home",
    "private",
    "test",
    "invalid",
];

/// Public DNS services that answer any address spelled in the name (`10.0.0.1.nip.io`): a
/// best-effort list of the well-known ones.
const WILDCARD_DNS: [&str; 8] = [
    "nip.io",
    "sslip.io",
    "xip.io",
    "traefik.me",
    "localtest.me",
    "lvh.me",
    "vcap.me",
    "lacolhost.com",
];

fn has_suffix(name: &str, suffix: &str) -> bool {
    name == suffix
        || name
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.'))
}

fn classify_name(name: &str) -> HostClass {
    // `localhost.` is `localhost`: one trailing dot names the same host.
    let name = name.strip_suffix('.').unwrap_or(name);
    if has_suffix(name, "localhost") {
        return HostClass::Loopback;
    }
    if name.is_empty() || name.ends_with('.') {
        return HostClass::Refused("not a host name");
    }
    if !name.contains('.') {
        return HostClass::Refused("a name with no dot resolves only inside a network");
    }
    if INTERNAL_SUFFIXES.iter().any(|s| has_suffix(name, s)) {
        return HostClass::Refused("a name that resolves only inside a network");
    }
    if WILDCARD_DNS.iter().any(|s| has_suffix(name, s)) {
        return HostClass::Refused("a wildcard DNS name that can point anywhere");
    }
    HostClass::Public
}

/// Public suffixes under which different owners register names: where a wildcard origin
/// (`https://*.github.io`) would admit everyone's sites. Not the whole Public Suffix List
/// (every top-level domain counts anyway, see [`is_public_suffix`]): the common
/// second-level registries and the multi-tenant hosting suffixes customers' sites live on.
#[rustfmt::skip]
const PUBLIC_SUFFIXES: &[&str] = &[
    // Second-level registries.
    "co.uk", "org.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk", "ac.uk", "gov.uk", "sch.uk",
    "com.au", "net.au", "org.au", "edu.au", "gov.au", "id.au", "co.nz", "net.nz", "org.nz",
    "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp", "co.kr", "or.kr", "com.cn", "net.cn", "org.cn",
    "gov.cn", "com.hk", "com.tw", "com.sg", "com.my", "co.in", "net.in", "org.in", "firm.in",
    "co.id", "or.id", "web.id", "com.ph", "com.vn", "co.th", "in.th", "com.pk", "com.br", "net.br",
    "org.br", "com.mx", "com.ar", "com.co", "com.pe", "com.uy", "com.ve", "com.ec", "co.za",
    "org.za", "co.ke", "com.ng", "com.eg", "com.sa", "co.il", "org.il", "com.tr", "com.ua",
    "com.pl", "com.es", "com.pt", "com.gr", "com.ru", "co.at", "or.at", "co.hu", "eu.org",
    "us.com", "uk.com", "eu.com", "de.com", "cn.com", "za.com", "uk.net", "gb.net",
    // Multi-tenant hosting: every customer's site under one suffix.
    "github.io", "githubusercontent.com", "gitlab.io", "bitbucket.io", "codeberg.page",
    "workers.dev", "pages.dev", "r2.dev", "trycloudflare.com", "vercel.app", "now.sh",
    "netlify.app", "netlify.com", "herokuapp.com", "herokudns.com", "firebaseapp.com", "web.app",
    "appspot.com", "run.app", "cloudfunctions.net", "azurewebsites.net", "azurestaticapps.net",
    "cloudapp.net", "blob.core.windows.net", "cloudfront.net", "amazonaws.com", "s3.amazonaws.com",
    "elasticbeanstalk.com", "amplifyapp.com", "awsapprunner.com", "onrender.com", "fly.dev",
    "railway.app", "up.railway.app", "deno.dev", "deta.app", "glitch.me", "repl.co", "replit.app",
    "replit.dev", "surge.sh", "ngrok.io", "ngrok.app", "ngrok-free.app", "ngrok.dev", "loca.lt",
    "blogspot.com", "wordpress.com", "wixsite.com", "myshopify.com", "webflow.io",
    "squarespace.com", "weebly.com", "carrd.co", "bubbleapps.io", "framer.app", "framer.website",
    "notion.site", "readthedocs.io", "gitbook.io", "stackblitz.io", "csb.app", "codesandbox.io",
    "digitaloceanspaces.com", "ondigitalocean.app", "pythonanywhere.com", "000webhostapp.com",
];

/// Whether `name` (lower case, as the URL parser gives it) is a public suffix: a top-level
/// domain (any single label) or one of [`PUBLIC_SUFFIXES`].
pub fn is_public_suffix(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.contains('.') || PUBLIC_SUFFIXES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn class_of(url: &str) -> HostClass {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        classify(&url.host().expect("a host"))
    }

    #[test]
    fn every_spelling_of_this_machine_is_loopback() {
        for url in [
            "https://127.0.0.1",
            "https://127.1",
            "https://2130706433",
            "https://0x7f.1",
            "https://0x7f000001",
            "https://017700000001",
            "https://0177.0.0.1",
            "https://127.255.255.254",
            "https://127.0.0.1.",
            "https://%31%32%37.1",
            "https://0x7F.0.0.1",
            "https://[::1]",
            "https://[0:0:0:0:0:0:0:1]",
            "https://[::ffff:127.0.0.1]",
            "https://[::ffff:7f00:1]",
            "https://localhost",
            "https://LOCALHOST",
            "https://localhost.",
            "https://api.localhost",
            "https://a.b.localhost.",
        ] {
            assert_eq!(class_of(url), HostClass::Loopback, "{url}");
        }
    }

    #[test]
    fn private_and_reserved_addresses_are_refused() {
        for url in [
            "https://169.254.169.254",
            "https://169.254.169.254/latest/meta-data/",
            "https://0xa9fea9fe",
            "https://10.0.0.1",
            "https://10.255.255.255",
            "https://012.0.0.1",
            "https://172.16.0.1",
            "https://172.31.255.255",
            "https://192.168.1.1",
            "https://192.168.0.1:8443",
            "https://100.64.0.1",
            "https://100.127.255.255",
            "https://0.0.0.0",
            "https://0",
            "https://0.1.2.3",
            "https://192.0.0.8",
            "https://192.0.2.1",
            "https://198.18.0.1",
            "https://198.51.100.7",
            "https://203.0.113.9",
            "https://224.0.0.1",
            "https://240.0.0.1",
            "https://255.255.255.255",
            "https://[::]",
            "https://[::ffff:10.0.0.1]",
            "https://[::ffff:169.254.169.254]",
            "https://[::ffff:8.8.8.8]",
            "https://[::127.0.0.1]",
            "https://[64:ff9b::a00:1]",
            "https://[fe80::1]",
            "https://[fe80::abcd:1]",
            "https://[febf:ffff::1]",
            "https://[fc00::1]",
            "https://[fd12:3456:789a::1]",
            "https://[fec0::1]",
            "https://[ff02::1]",
            "https://[2001:db8::1]",
            "https://[2001::1]",
            "https://[2002:a00:1::1]",
            "https://[3fff::1]",
            "https://[100::1]",
        ] {
            assert!(
                matches!(class_of(url), HostClass::Refused(_)),
                "{url}: {:?}",
                class_of(url)
            );
        }
    }

    #[test]
    fn internal_names_are_refused() {
        for url in [
            "https://metadata.google.internal",
            "https://metadata.google.internal.",
            "https://internal",
            "https://kubernetes.default.svc",
            "https://api.default.svc.cluster.local",
            "https://printer.local",
            "https://printer.local.",
            "https://router.lan",
            "https://nas.home.arpa",
            "https://1.0.0.10.in-addr.arpa",
            "https://host.localdomain",
            "https://wiki.corp",
            "https://metadata",
            "https://kubernetes",
            "https://10.0.0.1.nip.io",
            "https://127-0-0-1.sslip.io",
            "https://app.localtest.me",
            "https://x.test",
        ] {
            assert!(
                matches!(class_of(url), HostClass::Refused(_)),
                "{url}: {:?}",
                class_of(url)
            );
        }
    }

    #[test]
    fn public_hosts_pass() {
        for url in [
            "https://api.openai.com",
            "https://api.openai.com.",
            "https://api.x.ai/v1",
            "https://api.groq.com/openai",
            "https://api.deepgram.com",
            "https://hooks.shop.example",
            "https://localhost.example.com",
            "https://internal.example.com",
            "https://svc.example.org",
            "https://my-local.example",
            "https://xn--bcher-kva.example",
            "https://bücher.example",
            "https://8.8.8.8",
            "https://1.1.1.1:8443",
            "https://100.63.255.255",
            "https://100.128.0.1",
            "https://172.15.255.255",
            "https://172.32.0.1",
            "https://169.253.1.1",
            "https://11.0.0.1",
            "https://[2606:4700:4700::1111]",
            "https://[2a00:1450:4001::200e]",
        ] {
            assert_eq!(class_of(url), HostClass::Public, "{url}");
        }
    }
}
