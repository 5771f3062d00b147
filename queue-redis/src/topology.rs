//! Which deployment a URL names: one server, a Redis Cluster, or a primary watched by Sentinel.
//!
//! - `redis://`, `rediss://`, `redis+unix://`, `unix://`: one server (handed to the client
//!   library as it is).
//! - `redis+cluster://[user:password@]host:port[,host:port...][/][?prefix=...]` (or
//!   `rediss+cluster://` for TLS): any reachable nodes of the cluster; the rest are discovered.
//! - `redis+sentinel://[user:password@]host:port[,host:port...]/<primary-name>[/<db>]` (or
//!   `rediss+sentinel://`): the sentinels, and the name they know the primary by. Credentials
//!   and TLS apply to the primary; the sentinels are asked over TLS too when the scheme says
//!   so, and with the credentials only with `sentinel_auth` (see
//!   [`RedisOptions::sentinel_auth`](crate::RedisOptions::sentinel_auth)).
//!
//! Parsing never echoes the credentials: errors name the part that is wrong, not the URL.

/// A host and port.
pub(crate) type Node = (String, u16);

/// The deployment a URL names (its `?prefix=` already taken off).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One server: the URL as given.
    Single(String),
    /// A cluster: one `redis[s]://[userinfo@]host:port` URL per seed node.
    Cluster(Vec<String>),
    /// A primary found through sentinels.
    Sentinel(SentinelTarget),
}

/// Where to find a primary through Sentinel.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SentinelTarget {
    /// The sentinels' addresses.
    pub(crate) sentinels: Vec<Node>,
    /// The name the sentinels know the primary by.
    pub(crate) service: String,
    /// `redis[s]://[userinfo@]<first sentinel>/<db>`: the credentials, database and TLS to use
    /// with the primary (the address is replaced by the primary's).
    pub(crate) template: String,
    /// TLS to the primary and the sentinels.
    pub(crate) tls: bool,
}

// Never print a URL here: it may carry a password.
impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Single(_) => f.write_str("Single"),
            Self::Cluster(nodes) => write!(f, "Cluster({} seed nodes)", nodes.len()),
            Self::Sentinel(s) => f
                .debug_struct("Sentinel")
                .field("sentinels", &s.sentinels)
                .field("service", &s.service)
                .field("tls", &s.tls)
                .finish_non_exhaustive(),
        }
    }
}

/// The deployment `url` names, or why it names none.
pub(crate) fn parse(url: &str) -> Result<Topology, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(Topology::Single(url.to_string()));
    };
    let (base, tls) = match scheme {
        "redis+cluster" => ("cluster", false),
        "rediss+cluster" => ("cluster", true),
        "redis+sentinel" => ("sentinel", false),
        "rediss+sentinel" => ("sentinel", true),
        _ => return Ok(Topology::Single(url.to_string())),
    };
    let data_scheme = if tls { "rediss" } else { "redis" };
    // The credentials end at the last `@` (an unencoded password may hold `/` or `@`).
    let (userinfo, after) = match rest.rsplit_once('@') {
        Some((userinfo, after)) => (Some(userinfo), after),
        None => (None, rest),
    };
    let (hosts, path) = after.split_at(after.find(['/', '?']).unwrap_or(after.len()));
    if path.contains('?') {
        return Err("query parameters other than `prefix` are not supported here".into());
    }
    let nodes = hosts
        .split(',')
        .map(node)
        .collect::<Result<Vec<Node>, String>>()?;
    let creds = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if base == "cluster" {
        if !matches!(segments.as_slice(), [] | ["0"]) {
            return Err("a cluster has only database 0: leave the path empty".into());
        }
        let urls = nodes
            .iter()
            .map(|(host, port)| format!("{data_scheme}://{creds}{}:{port}", bracket(host)))
            .collect();
        return Ok(Topology::Cluster(urls));
    }
    let (service, db) = match segments.as_slice() {
        [service] => (*service, "0"),
        [service, db] => (*service, *db),
        _ => {
            return Err(
                "a sentinel URL names the primary after the hosts: `/<primary-name>[/<db>]`".into(),
            )
        }
    };
    if db.parse::<u32>().is_err() {
        return Err("the database after the primary's name must be a number".into());
    }
    let (host, port) = &nodes[0];
    Ok(Topology::Sentinel(SentinelTarget {
        template: format!("{data_scheme}://{creds}{}:{port}/{db}", bracket(host)),
        sentinels: nodes,
        service: service.to_string(),
        tls,
    }))
}

/// `host` as it goes in a URL (an IPv6 address in brackets).
fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// One `host:port` (`[v6]:port` for IPv6) of a host list.
fn node(text: &str) -> Result<Node, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("`{text}` has no port: list hosts as host:port,host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{text}` has no host"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{text}`: the port must be a number"))?;
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_server_urls_pass_through() {
        for url in ["redis://h:1/0", "rediss://u:p@h", "unix:///tmp/s"] {
            assert_eq!(parse(url), Ok(Topology::Single(url.to_string())));
        }
    }

    #[test]
    fn cluster_urls_list_their_seed_nodes() {
        assert_eq!(
            parse("redis+cluster://u:p%40w@a:7000,b:7001/"),
            Ok(Topology::Cluster(vec![
                "redis://u:p%40w@a:7000".into(),
                "redis://u:p%40w@b:7001".into()
            ]))
        );
        assert_eq!(
            parse("rediss+cluster://[::1]:7000"),
            Ok(Topology::Cluster(vec!["rediss://[::1]:7000".into()]))
        );
        assert!(parse("redis+cluster://a:7000/3").is_err());
        assert!(parse("redis+cluster://a").unwrap_err().contains("no port"));
    }

    #[test]
    fn sentinel_urls_name_the_primary() {
        let Ok(Topology::Sentinel(s)) = parse("redis+sentinel://:pw@s1:26379,s2:26380/main/2")
        else {
            panic!("not a sentinel URL")
        };
        assert_eq!(
            s.sentinels,
            vec![("s1".into(), 26379), ("s2".into(), 26380)]
        );
        assert_eq!(s.service, "main");
        assert_eq!(s.template, "redis://:pw@s1:26379/2");
        assert!(!s.tls);
        assert!(parse("redis+sentinel://s1:26379").is_err());
        assert!(parse("redis+sentinel://s1:26379/main/x").is_err());
    }

    #[test]
    fn errors_and_debug_never_show_the_password() {
        let e = parse("redis+cluster://u:secret@a:x").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        let t = parse("redis+sentinel://u:secret@a:1/m").unwrap();
        assert!(!format!("{t:?}").contains("secret"));
        let t = parse("redis+cluster://u:secret@a:1").unwrap();
        assert!(!format!("{t:?}").contains("secret"));
    }
}
