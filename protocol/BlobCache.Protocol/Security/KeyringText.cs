namespace BlobCache.Protocol.Security;

/// <summary>A key file that cannot be used; <see cref="Exception.Message"/> names the line.</summary>
public sealed class KeyringFormatException(string message) : Exception(message);

/// <summary>
/// The key file format: one base64 key of <see cref="Keyring.KeyBytes"/> bytes per line, the first the primary.
/// Blank lines and lines starting with <c>#</c> are skipped; spaces around a key are ignored.
/// </summary>
public static class KeyringText
{
    /// <summary>The keys of <paramref name="text"/>, in order. Throws <see cref="KeyringFormatException"/> naming the first bad line.</summary>
    public static List<byte[]> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var keys = new List<byte[]>();
        var lines = new List<int>();
        int number = 0;
        foreach (string raw in text.Split('\n'))
        {
            number++;
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            byte[] key;
            try
            {
                key = Convert.FromBase64String(line);
            }
            catch (FormatException)
            {
                throw new KeyringFormatException($"line {number}: not base64 (expected a {Keyring.KeyBytes}-byte key from `blobcache keygen`)");
            }
            if (key.Length != Keyring.KeyBytes)
                throw new KeyringFormatException($"line {number}: a key of {key.Length} bytes, expected {Keyring.KeyBytes}");
            for (int i = 0; i < keys.Count; i++)
            {
                if (keys[i].AsSpan().SequenceEqual(key)) throw new KeyringFormatException($"line {number}: the same key as line {lines[i]}");
            }
            keys.Add(key);
            lines.Add(number);
        }
        if (keys.Count == 0) throw new KeyringFormatException($"no keys (expected base64 {Keyring.KeyBytes}-byte keys, one per line; make one with `blobcache keygen`)");
        return keys;
    }

    /// <summary>A fresh random key, base64, as a key file line.</summary>
    public static string NewKey() => Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(Keyring.KeyBytes));
}
