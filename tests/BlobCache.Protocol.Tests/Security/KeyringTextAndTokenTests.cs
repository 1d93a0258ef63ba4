using BlobCache.Protocol.Security;

namespace BlobCache.Protocol.Tests.Security;

public sealed class KeyringTextTests
{
    private static readonly string A = Convert.ToBase64String(Enumerable.Repeat((byte)1, 32).ToArray());
    private static readonly string B = Convert.ToBase64String(Enumerable.Repeat((byte)2, 32).ToArray());

    [Fact]
    public void Keys_in_order_with_comments_blank_lines_spaces_and_crlf()
    {
        List<byte[]> keys = KeyringText.Parse($"# rotated 2026-11-25\r\n\r\n  {B}  \r\n# old one\n{A}\n\n");
        Assert.Equal(2, keys.Count);
        Assert.Equal(2, keys[0][0]);
        Assert.Equal(1, keys[1][0]);
    }

    [Theory]
    [InlineData("", "no keys")]
    [InlineData("# only a comment\n\n", "no keys")]
    [InlineData("LINE1\nnot base64!\n", "line 1: not base64")]
    [InlineData("GOOD\n\nAAAA\n", "line 3: a key of 3 bytes, expected 32")]
    [InlineData("GOOD\n# c\nGOOD\n", "line 3: the same key as line 1")]
    public void A_bad_file_names_the_line(string text, string message)
    {
        text = text.Replace("GOOD", A, StringComparison.Ordinal).Replace("LINE1", "%%%", StringComparison.Ordinal);
        var e = Assert.Throws<KeyringFormatException>(() => KeyringText.Parse(text));
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_new_key_is_a_valid_line_and_keys_differ()
    {
        string one = KeyringText.NewKey(), two = KeyringText.NewKey();
        Assert.NotEqual(one, two);
        Assert.Equal(2, KeyringText.Parse(one + "\n" + two).Count);
    }
}

public sealed class ConnectTokenTests
{
    private static readonly Keyring K1 = Keyring.Create([Enumerable.Repeat((byte)1, 32).ToArray()]);
    private static readonly Keyring K2 = Keyring.Create([Enumerable.Repeat((byte)2, 32).ToArray()]);
    private const string Target = "10.0.0.7:7482";
    private const long Now = 1_764_000_000_000;

    private static byte[] Token(Keyring ring, string id = "node-a", string target = Target, long at = Now)
    {
        byte[] buffer = new byte[ConnectToken.MaxBytes];
        return buffer[..ConnectToken.Write(ring, id, target, at, buffer)];
    }

    [Fact]
    public void A_fresh_token_for_this_node_is_accepted_and_names_the_sender()
    {
        Assert.Equal(ConnectCheck.Ok, ConnectToken.Check(K1, Token(K1), Target, Now + 1500, out string? id));
        Assert.Equal("node-a", id);
        // Any key of the ring, not only the primary.
        Keyring rotated = Keyring.Create([Enumerable.Repeat((byte)2, 32).ToArray(), Enumerable.Repeat((byte)1, 32).ToArray()]);
        Assert.Equal(ConnectCheck.Ok, ConnectToken.Check(rotated, Token(K1), Target, Now, out _));
    }

    [Fact]
    public void Wrong_key_wrong_target_stale_and_tampered_tokens_are_refused()
    {
        Assert.Equal(ConnectCheck.UnknownKey, ConnectToken.Check(K2, Token(K1), Target, Now, out _));
        Assert.Equal(ConnectCheck.BadMac, ConnectToken.Check(K1, Token(K1), "10.0.0.8:7482", Now, out _));
        Assert.Equal(ConnectCheck.Stale, ConnectToken.Check(K1, Token(K1, at: Now - 61_000), Target, Now, out _));
        Assert.Equal(ConnectCheck.Stale, ConnectToken.Check(K1, Token(K1, at: Now + 61_000), Target, Now, out _));
        Assert.Equal(ConnectCheck.Ok, ConnectToken.Check(K1, Token(K1, at: Now - 59_000), Target, Now, out _));

        byte[] good = Token(K1);
        for (int i = 0; i < good.Length; i++)
        {
            byte[] bad = (byte[])good.Clone();
            bad[i] ^= 0x20;
            Assert.NotEqual(ConnectCheck.Ok, ConnectToken.Check(K1, bad, Target, Now, out _));
        }
    }

    [Fact]
    public void Garbage_and_the_plain_protocol_key_are_malformed_never_an_exception()
    {
        Assert.Equal(ConnectCheck.Malformed, ConnectToken.Check(K1, [], Target, Now, out _));
        Assert.Equal(ConnectCheck.Malformed, ConnectToken.Check(K1, "blobcache-chunks/1"u8, Target, Now, out _));
        byte[] good = Token(K1);
        for (int n = 0; n < good.Length; n++) Assert.NotEqual(ConnectCheck.Ok, ConnectToken.Check(K1, good[..n], Target, Now, out _));
        var random = new Random(7);
        for (int i = 0; i < 2000; i++)
        {
            byte[] noise = new byte[random.Next(0, 400)];
            random.NextBytes(noise);
            if (noise.Length > 0) noise[0] = ConnectToken.Version;
            Assert.NotEqual(ConnectCheck.Ok, ConnectToken.Check(K1, noise, Target, Now, out _));
        }
    }

    [Fact]
    public void Write_refuses_ids_and_targets_that_do_not_fit()
    {
        byte[] buffer = new byte[ConnectToken.MaxBytes];
        Assert.Throws<ArgumentException>(() => ConnectToken.Write(K1, "", Target, Now, buffer));
        Assert.Throws<ArgumentException>(() => ConnectToken.Write(K1, new string('x', 256), Target, Now, buffer));
        Assert.Throws<ArgumentException>(() => ConnectToken.Write(K1, "a", new string('x', 256), Now, buffer));
    }
}
