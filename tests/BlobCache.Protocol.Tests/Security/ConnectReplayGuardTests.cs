using System.Net;
using BlobCache.Protocol.Security;

namespace BlobCache.Protocol.Tests.Security;

public sealed class ConnectReplayGuardTests
{
    private static readonly Keyring Ring = Keyring.Create(KeyringText.Parse(KeyringText.NewKey()));
    private static readonly IPEndPoint Requester = new(IPAddress.Loopback, 40001), Thief = new(IPAddress.Loopback, 40002);
    private const long Now = 1_790_000_000_000;

    private static byte[] Token(string node, long at)
    {
        byte[] buffer = new byte[ConnectToken.MaxBytes];
        int n = ConnectToken.Write(Ring, node, "10.0.0.5:7482", at, buffer);
        return buffer[..n];
    }

    [Fact]
    public void A_token_is_admitted_again_from_its_sender_and_refused_from_anywhere_else()
    {
        var guard = new ConnectReplayGuard();
        byte[] token = Token("node-a", Now);
        Assert.True(guard.TryAdmit(token, Requester, Now));
        Assert.True(guard.TryAdmit(token, new IPEndPoint(IPAddress.Loopback, 40001), Now + 500)); // a resent request
        Assert.False(guard.TryAdmit(token, Thief, Now + 1_000));                                   // captured and replayed
        Assert.True(guard.TryAdmit(Token("node-a", Now + 1), Thief, Now + 1_000));                 // a new token is fine
        Assert.Equal(2, guard.Count);
    }

    [Fact]
    public void Tokens_are_forgotten_once_they_could_no_longer_pass_the_clock_check()
    {
        var guard = new ConnectReplayGuard();
        byte[] token = Token("node-a", Now);
        Assert.True(guard.TryAdmit(token, Requester, Now));
        long later = Now + 2 * (long)ConnectToken.MaxSkew.TotalMilliseconds + 1;
        // By then ConnectToken.Check calls the token stale, so forgetting it opens nothing.
        Assert.Equal(ConnectCheck.Stale, ConnectToken.Check(Ring, token, "10.0.0.5:7482", later, out _));
        Assert.True(guard.TryAdmit(Token("node-b", later), Requester, later));
        Assert.Equal(1, guard.Count);
    }

    [Fact]
    public void A_full_guard_refuses_new_tokens_instead_of_growing()
    {
        var guard = new ConnectReplayGuard(capacity: 3);
        for (int i = 0; i < 3; i++) Assert.True(guard.TryAdmit(Token($"node-{i}", Now), Requester, Now));
        Assert.False(guard.TryAdmit(Token("node-9", Now), Requester, Now));
        Assert.Equal(3, guard.Count);
        Assert.False(guard.TryAdmit([1, 2, 3], Requester, Now)); // too short to be a token
    }
}
