using System.Net;
using System.Net.Sockets;
using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Node.Gossip;
using BlobCache.Protocol.Gossip;
using BlobCache.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Infrastructure;

/// <summary>
/// Thousands of mesh members in one test process, each a real <see cref="SwimNode"/> on its own loopback UDP socket
/// and TCP state listener, so a real node can join a mesh of that size over real sockets. The members start as one
/// converged mesh and share one <see cref="MemberDirectory"/> (one directory per member would hold every id of the
/// mesh thousands of times), so one lock serialises every call into any of them, and one timer loop ticks them all.
/// State transfers go out through the node's own <see cref="StateStreamSender"/> and arrive through its
/// <see cref="StateStreamListener"/>; datagrams through the real codec.
/// </summary>
public sealed class LoopbackSwarm : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly MemberDirectory _directory = new();
    private readonly Member[] _members;
    private readonly StateStreamSender _streams = new(null, NullLogger.Instance, concurrency: 8, queue: 4096);
    private readonly CancellationTokenSource _stop = new();
    private readonly long _epoch = System.Diagnostics.Stopwatch.GetTimestamp();
    private readonly List<Task> _loops = [];
    private long _oversize;
    private bool _stopped;

    /// <param name="config">The members' settings: slower than the defaults keeps thousands of them from saturating a small machine.</param>
    public LoopbackSwarm(int count, MeshConfig config)
    {
        _members = new Member[count];
        var view = new MemberTable();
        try
        {
            for (int i = 0; i < count; i++)
            {
                int index = i, port = Ports.Next();
                var meta = new MemberMeta($"swarm-{i}", $"127.0.0.1:{port}", "", "", "local", "local-1", 100, 1);
                var swim = new SwimNode(config, meta, _directory, DeterministicRandom.Derive(21, (ulong)i));
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                var endpoint = new IPEndPoint(IPAddress.Loopback, port);
                socket.Bind(endpoint);
                var listener = new StateStreamListener(null, WireLimits.Default, NullLogger.Instance, m => Deliver(_members[index], m), maxConcurrent: 4);
                _members[i] = new Member(swim, socket, listener);
                listener.Start(endpoint);
                view.Set(swim.Self, new MemberEntry { Incarnation = 0, Meta = _directory.Intern(meta), State = MemberState.Alive });
            }
        }
        catch
        {
            foreach (Member? m in _members) m?.Socket.Dispose();
            throw;
        }
        view.Compact();
        lock (_gate)
        {
            foreach (Member m in _members)
            {
                m.Swim.StartConverged(Now, view);
                Flush(m);
            }
        }
        foreach (Member m in _members) _loops.Add(Task.Run(() => ReceiveLoop(m)));
        _loops.Add(Task.Run(TimerLoop));
    }

    public string AddressOf(int member) => _members[member].Swim.Meta.GossipAddress;

    /// <summary>Messages a member refused to send for being over the datagram budget (must stay 0).</summary>
    public long OversizeDatagrams => Interlocked.Read(ref _oversize);

    /// <summary>Members of the swarm that list <paramref name="id"/> as alive.</summary>
    public int CountSeeingAlive(string id)
    {
        lock (_gate)
        {
            if (!_directory.TryGet(id, out int index)) return 0;
            return _members.Count(m => m.Swim.StateOf(index) == MemberState.Alive);
        }
    }

    private long Now => (long)System.Diagnostics.Stopwatch.GetElapsedTime(_epoch).TotalMicroseconds;

    private async Task ReceiveLoop(Member member)
    {
        byte[] buffer = new byte[2048];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await member.Socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            if (GossipCodec.TryDecode(buffer.AsMemory(0, r.ReceivedBytes), WireLimits.Default, out GossipMessage? message, out _))
                Deliver(member, message);
        }
    }

    private void Deliver(Member member, GossipMessage message)
    {
        lock (_gate)
        {
            if (_stopped) return;
            member.Swim.Receive(Now, message);
            Flush(member);
        }
    }

    private async Task TimerLoop()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                lock (_gate)
                {
                    if (_stopped) return;
                    long now = Now;
                    foreach (Member m in _members)
                    {
                        if (m.Swim.NextDue > now) continue;
                        m.Swim.Tick(now);
                        Flush(m);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Flush(Member member)
    {
        foreach (Outbound o in member.Swim.Outbox)
        {
            if (GossipHost.ParseAddress(o.ToAddress, out _, out _) is not { } to) continue;
            switch (o.Channel)
            {
                case GossipChannel.Stream:
                    _streams.Send(to, o.ToAddress, o.Message);
                    break;
                case GossipChannel.Oversize:
                    Interlocked.Increment(ref _oversize);
                    break;
                default:
                    try
                    {
                        member.Socket.SendTo(GossipCodec.Encode(o.Message), SocketFlags.None, to);
                    }
                    catch (SocketException)
                    {
                        // A full socket buffer under load: lost, as on a network.
                    }
                    break;
            }
        }
        member.Swim.Outbox.Clear();
        member.Swim.Events.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate) _stopped = true; // no call into a member, and no send, from here on
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (Member m in _members) m.Socket.Dispose();
        await Task.WhenAll(_members.Select(m => m.Listener.DisposeAsync().AsTask())).ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
        await _streams.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private sealed record Member(SwimNode Swim, Socket Socket, StateStreamListener Listener);
}
