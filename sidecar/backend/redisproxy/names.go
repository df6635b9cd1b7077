package redisproxy

import "strconv"

// opNames are the operation names a command is timed under: the command
// names of Redis 7 and 8 (for container commands such as CLIENT, CONFIG or
// XGROUP only the first word), upper-cased. Anything else is "OTHER", so
// the operation label stays a bounded set whatever a client sends.
var opNames = [...]string{
	"OTHER",
	"ACL", "APPEND", "ASKING", "AUTH", "BGREWRITEAOF", "BGSAVE", "BITCOUNT", "BITFIELD",
	"BITFIELD_RO", "BITOP", "BITPOS", "BLMOVE", "BLMPOP", "BLPOP", "BRPOP", "BRPOPLPUSH", "BZMPOP",
	"BZPOPMAX", "BZPOPMIN", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "COPY", "DBSIZE", "DEBUG",
	"DECR", "DECRBY", "DEL", "DISCARD", "DUMP", "ECHO", "EVAL", "EVALSHA", "EVALSHA_RO", "EVAL_RO",
	"EXEC", "EXISTS", "EXPIRE", "EXPIREAT", "EXPIRETIME", "FAILOVER", "FCALL", "FCALL_RO", "FLUSHALL",
	"FLUSHDB", "FUNCTION", "GEOADD", "GEODIST", "GEOHASH", "GEOPOS", "GEORADIUS", "GEORADIUSBYMEMBER",
	"GEORADIUSBYMEMBER_RO", "GEORADIUS_RO", "GEOSEARCH", "GEOSEARCHSTORE", "GET", "GETBIT", "GETDEL",
	"GETEX", "GETRANGE", "GETSET", "HDEL", "HELLO", "HEXISTS", "HEXPIRE", "HEXPIREAT", "HEXPIRETIME",
	"HGET", "HGETALL", "HGETDEL", "HGETEX", "HINCRBY", "HINCRBYFLOAT", "HKEYS", "HLEN", "HMGET",
	"HMSET", "HPERSIST", "HPEXPIRE", "HPEXPIREAT", "HPEXPIRETIME", "HPTTL", "HRANDFIELD", "HSCAN",
	"HSET", "HSETEX", "HSETNX", "HSTRLEN", "HTTL", "HVALS", "INCR", "INCRBY", "INCRBYFLOAT", "INFO",
	"KEYS", "LASTSAVE", "LATENCY", "LCS", "LINDEX", "LINSERT", "LLEN", "LMOVE", "LMPOP", "LOLWUT",
	"LPOP", "LPOS", "LPUSH", "LPUSHX", "LRANGE", "LREM", "LSET", "LTRIM", "MEMORY", "MGET", "MIGRATE",
	"MODULE", "MONITOR", "MOVE", "MSET", "MSETNX", "MULTI", "OBJECT", "PERSIST", "PEXPIRE",
	"PEXPIREAT", "PEXPIRETIME", "PFADD", "PFCOUNT", "PFDEBUG", "PFMERGE", "PFSELFTEST", "PING",
	"PSETEX", "PSUBSCRIBE", "PSYNC", "PTTL", "PUBLISH", "PUBSUB", "PUNSUBSCRIBE", "QUIT", "RANDOMKEY",
	"READONLY", "READWRITE", "RENAME", "RENAMENX", "REPLCONF", "REPLICAOF", "RESET", "RESTORE",
	"RESTORE-ASKING", "ROLE", "RPOP", "RPOPLPUSH", "RPUSH", "RPUSHX", "SADD", "SAVE", "SCAN", "SCARD",
	"SCRIPT", "SDIFF", "SDIFFSTORE", "SELECT", "SET", "SETBIT", "SETEX", "SETNX", "SETRANGE",
	"SHUTDOWN", "SINTER", "SINTERCARD", "SINTERSTORE", "SISMEMBER", "SLAVEOF", "SLOWLOG", "SMEMBERS",
	"SMISMEMBER", "SMOVE", "SORT", "SORT_RO", "SPOP", "SPUBLISH", "SRANDMEMBER", "SREM", "SSCAN",
	"SSUBSCRIBE", "STRLEN", "SUBSCRIBE", "SUBSTR", "SUNION", "SUNIONSTORE", "SUNSUBSCRIBE", "SWAPDB",
	"SYNC", "TIME", "TOUCH", "TTL", "TYPE", "UNLINK", "UNSUBSCRIBE", "UNWATCH", "WAIT", "WAITAOF",
	"WATCH", "XACK", "XADD", "XAUTOCLAIM", "XCLAIM", "XDEL", "XGROUP", "XINFO", "XLEN", "XPENDING",
	"XRANGE", "XREAD", "XREADGROUP", "XREVRANGE", "XSETID", "XTRIM", "ZADD", "ZCARD", "ZCOUNT",
	"ZDIFF", "ZDIFFSTORE", "ZINCRBY", "ZINTER", "ZINTERCARD", "ZINTERSTORE", "ZLEXCOUNT", "ZMPOP",
	"ZMSCORE", "ZPOPMAX", "ZPOPMIN", "ZRANDMEMBER", "ZRANGE", "ZRANGEBYLEX", "ZRANGEBYSCORE",
	"ZRANGESTORE", "ZRANK", "ZREM", "ZREMRANGEBYLEX", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE",
	"ZREVRANGE", "ZREVRANGEBYLEX", "ZREVRANGEBYSCORE", "ZREVRANK", "ZSCAN", "ZSCORE", "ZUNION",
	"ZUNIONSTORE",
}

// opOther is the index of "OTHER" in opNames.
const opOther = 0

// opCluster is the index of "CLUSTER".
var opCluster = lookupOp([]byte("CLUSTER"))

// opSelect is SELECT's index: its reply changes the database
// (db.namespace) of the commands after it.
var opSelect = lookupOp([]byte("SELECT"))

// dbNames are the db.namespace values of the first databases, shared so
// that naming a call's database does not allocate (Redis has 16 by
// default).
var dbNames = func() [64]string {
	var n [64]string
	for i := range n {
		n[i] = strconv.Itoa(i)
	}
	return n
}()

// dbName is db.namespace of database index db.
func dbName(db int32) string {
	if db < 0 {
		return ""
	}
	if int(db) < len(dbNames) {
		return dbNames[db]
	}
	return strconv.Itoa(int(db))
}

// isTopologySub reports whether an upper-cased CLUSTER subcommand answers
// with the cluster's nodes.
func isTopologySub(b []byte) bool {
	switch string(b) {
	case "SLOTS", "SHARDS", "NODES":
		return true
	}
	return false
}

// maxNameLen is the longest command name of opNames: a longer first word
// is "OTHER" without a lookup.
const maxNameLen = 20

// opIndex maps an upper-cased command name to its index in opNames.
var opIndex = func() map[string]uint16 {
	m := make(map[string]uint16, len(opNames))
	for i, n := range opNames {
		if len(n) > maxNameLen {
			panic("redisproxy: command name longer than maxNameLen: " + n)
		}
		m[n] = uint16(i)
	}
	return m
}()

// lookupOp returns the index of an upper-cased command name (OTHER when
// unknown). It does not allocate: the map lookup of string(b) does not
// copy.
func lookupOp(upper []byte) uint16 {
	if len(upper) == 0 || len(upper) > maxNameLen {
		return opOther
	}
	if i, ok := opIndex[string(upper)]; ok {
		return i
	}
	return opOther
}

// Command kinds the proxy treats specially.
const (
	kindPlain uint8 = iota
	kindSubscribe
	kindPSubscribe
	kindSSubscribe
	kindUnsubscribe
	kindPUnsubscribe
	kindSUnsubscribe
	kindHello
	kindReset
	kindClient
	kindMonitor // MONITOR: the server streams after +OK
	kindSync    // SYNC, PSYNC: a replication stream follows
)

// opSecret marks the commands whose arguments may be credentials: none of
// their arguments is read for attribution.
var opSecret = func() [len(opNames)]bool {
	var k [len(opNames)]bool
	for i, n := range opNames {
		switch n {
		case "AUTH", "ACL", "CONFIG", "MIGRATE":
			k[i] = true
		}
	}
	return k
}()

// opSetup marks the commands a client sends to set its connection up
// (HELLO, AUTH, SELECT, CLIENT SETNAME/SETINFO): sent before any other
// command, they are timed as connection setup (AttrConnectionSetup).
var opSetup = func() [len(opNames)]bool {
	var k [len(opNames)]bool
	for i, n := range opNames {
		switch n {
		case "HELLO", "AUTH", "SELECT", "CLIENT":
			k[i] = true
		}
	}
	return k
}()

// opKinds is the kind of each opNames entry.
var opKinds = func() [len(opNames)]uint8 {
	var k [len(opNames)]uint8
	special := map[string]uint8{
		"SUBSCRIBE": kindSubscribe, "PSUBSCRIBE": kindPSubscribe, "SSUBSCRIBE": kindSSubscribe,
		"UNSUBSCRIBE": kindUnsubscribe, "PUNSUBSCRIBE": kindPUnsubscribe, "SUNSUBSCRIBE": kindSUnsubscribe,
		"HELLO": kindHello, "RESET": kindReset, "CLIENT": kindClient,
		"MONITOR": kindMonitor, "SYNC": kindSync, "PSYNC": kindSync,
	}
	for i, n := range opNames {
		k[i] = special[n]
	}
	return k
}()

// errorPrefixes are the error types a reply's error may carry (its first
// word); any other prefix is "OTHER".
var errorPrefixes = [...]string{
	"OTHER",
	"ASK", "BUSY", "BUSYGROUP", "BUSYKEY", "CLUSTERDOWN", "CROSSSLOT", "ERR", "EXECABORT",
	"LOADING", "MASTERDOWN", "MISCONF", "MOVED", "NOAUTH", "NOGROUP", "NOPERM", "NOPROTO",
	"NOREPLICAS", "NOSCRIPT", "NOTBUSY", "OOM", "READONLY", "TRYAGAIN", "UNBLOCKED",
	"UNKILLABLE", "WRONGPASS", "WRONGTYPE",
}

// maxErrorLen is the longest prefix of errorPrefixes.
const maxErrorLen = 12

var errorIndex = func() map[string]uint8 {
	m := make(map[string]uint8, len(errorPrefixes))
	for i, n := range errorPrefixes {
		if len(n) > maxErrorLen {
			panic("redisproxy: error prefix longer than maxErrorLen: " + n)
		}
		m[n] = uint8(i)
	}
	return m
}()

// errorType returns the error type of an error reply's text: its first
// word when it is a known prefix, else "OTHER".
func errorType(text []byte) string {
	n := 0
	for n < len(text) && text[n] != ' ' && text[n] != '\r' && text[n] != '\n' {
		n++
	}
	if n == 0 || n > maxErrorLen {
		return errorPrefixes[0]
	}
	return errorPrefixes[errorIndex[string(text[:n])]]
}

// upperInto copies the ASCII upper case of src into dst and returns the
// copied part; src longer than dst is cut.
func upperInto(dst, src []byte) []byte {
	n := copy(dst, src)
	for i := 0; i < n; i++ {
		if c := dst[i]; c >= 'a' && c <= 'z' {
			dst[i] = c - ('a' - 'A')
		}
	}
	return dst[:n]
}
