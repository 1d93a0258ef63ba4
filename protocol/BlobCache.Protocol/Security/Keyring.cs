using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace BlobCache.Protocol.Security;

/// <summary>
/// The mesh's shared keys: the first is the primary (what this node seals with and signs with), every one is
/// accepted. Immutable; a reloaded key file becomes a new ring that keeps the <see cref="KeyEntry"/> (and its
/// cipher instances and counters) of every key it still holds.
/// </summary>
public sealed class Keyring
{
    /// <summary>Length of a key (AES-256).</summary>
    public const int KeyBytes = 32;

    private readonly KeyEntry[] _entries;

    private Keyring(KeyEntry[] entries) => _entries = entries;

    /// <summary>The key new packets are sealed with and connection requests signed with.</summary>
    public KeyEntry Primary => _entries[0];

    /// <summary>Every key, the primary first.</summary>
    public IReadOnlyList<KeyEntry> Keys => _entries;

    /// <summary>
    /// A ring of <paramref name="keys"/> (the first is the primary). Entries of <paramref name="previous"/> whose key
    /// is still present are reused, so their counters carry on. Throws <see cref="ArgumentException"/> for no keys,
    /// a key that is not <see cref="KeyBytes"/> long, or two keys with the same fingerprint.
    /// </summary>
    public static Keyring Create(IReadOnlyList<byte[]> keys, Keyring? previous = null)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0) throw new ArgumentException("a keyring needs at least one key", nameof(keys));
        var entries = new KeyEntry[keys.Count];
        for (int i = 0; i < keys.Count; i++)
        {
            byte[] key = keys[i];
            if (key is null || key.Length != KeyBytes) throw new ArgumentException($"key {i + 1} is {key?.Length ?? 0} bytes, not {KeyBytes}", nameof(keys));
            uint fingerprint = KeyEntry.FingerprintOf(key);
            for (int j = 0; j < i; j++)
            {
                if (entries[j].Fingerprint == fingerprint)
                    throw new ArgumentException($"key {i + 1} is the same as key {j + 1} (fingerprint {entries[j].Id})", nameof(keys));
            }
            entries[i] = previous?.Find(fingerprint) is { } kept && kept.Matches(key) ? kept : new KeyEntry(key, fingerprint);
        }
        return new Keyring(entries);
    }

    /// <summary>The key with this fingerprint, or null. A ring holds a handful of keys: a linear scan is the fastest lookup.</summary>
    public KeyEntry? Find(uint fingerprint)
    {
        foreach (KeyEntry e in _entries)
        {
            if (e.Fingerprint == fingerprint) return e;
        }
        return null;
    }

    /// <summary>"ab12cd34 (primary), 99ff0011": for logs.</summary>
    public override string ToString() => string.Join(", ", _entries.Select((e, i) => i == 0 ? e.Id + " (primary)" : e.Id));
}

/// <summary>
/// One key of a ring, with what is derived from it once: its public fingerprint, the AES-GCM instances (one for
/// sealing, one for opening, so a sender and the receive loop never wait for each other) and the subkey that signs
/// UDP connection requests.
/// </summary>
public sealed class KeyEntry
{
    private static readonly byte[] FingerprintLabel = Encoding.ASCII.GetBytes("blobcache key fingerprint v1");
    private static readonly byte[] ConnectLabel = Encoding.ASCII.GetBytes("blobcache udp connect v1");
    private readonly byte[] _keyHash;
    private readonly AesGcm _sealer, _opener;
    private long _opened, _sealed;

    internal KeyEntry(byte[] key, uint fingerprint)
    {
        Fingerprint = fingerprint;
        Id = fingerprint.ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
        _keyHash = SHA256.HashData(key);
        _sealer = new AesGcm(key, GossipSeal.TagBytes);
        _opener = new AesGcm(key, GossipSeal.TagBytes);
        // A separate key for HMAC, so one key never serves two algorithms.
        ConnectKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, key, 32, salt: [], info: ConnectLabel);
    }

    /// <summary>
    /// 32 bits of HMAC-SHA256(key, label): names the key in every packet header so the receiver picks the right key
    /// at once. It reveals nothing useful about the key, and nodes agree on it without coordination (a position in
    /// the ring would not: rings differ between nodes during a rotation).
    /// </summary>
    public uint Fingerprint { get; }

    /// <summary>The fingerprint in hex, as logs and <c>/status</c> show it.</summary>
    public string Id { get; }

    /// <summary>Packets opened with this key: once it stops growing after a rotation, no node seals with it any more.</summary>
    public long PacketsOpened => Interlocked.Read(ref _opened);

    /// <summary>Packets this node sealed with this key.</summary>
    public long PacketsSealed => Interlocked.Read(ref _sealed);

    internal byte[] ConnectKey { get; }

    internal static uint FingerprintOf(ReadOnlySpan<byte> key)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(key, FingerprintLabel, mac);
        return BinaryPrimitives.ReadUInt32BigEndian(mac);
    }

    internal bool Matches(byte[] key) => CryptographicOperations.FixedTimeEquals(_keyHash, SHA256.HashData(key));

    // AesGcm keeps native cipher state: one caller at a time per instance. Uncontended locks cost nanoseconds.
    internal void Seal(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> aad)
    {
        lock (_sealer) _sealer.Encrypt(nonce, plaintext, ciphertext, tag, aad);
        Interlocked.Increment(ref _sealed);
    }

    internal bool TryOpen(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> aad)
    {
        try
        {
            lock (_opener) _opener.Decrypt(nonce, ciphertext, tag, plaintext, aad);
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
        Interlocked.Increment(ref _opened);
        return true;
    }
}
