using BlobCache.Node.Config;
using BlobCache.Node.Gossip;
using BlobCache.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlobCache.Node.Tests.Unit;

/// <summary>An idle node's gossip timer: what it costs at rest is its wake-ups, so each should do work.</summary>
public sealed class GossipTimerTests
{
    [Fact]
    public async Task An_idle_node_wakes_its_gossip_timer_about_once_per_deadline_not_again_just_short_of_it()
    {
        var options = new NodeOptions { NodeId = "alone", GossipPort = Ports.Next() };
        await using var host = new GossipHost(options, NullLogger.Instance, keys: null);
        host.Start();
        // Gossip rounds (200 ms) and probes (1 s) give a lone node about six deadlines a second.
        await Wait.UntilAsync(() => Task.FromResult(host.TimerWakesWithWork >= 40), TimeSpan.FromSeconds(60), "40 timer wake-ups with a deadline due");

        long wakes = host.TimerWakes, withWork = host.TimerWakesWithWork;
        // The first wake-up is the start; a machine under load may add a stray one or two.
        Assert.True(wakes <= withWork * 9 / 8 + 2, $"{wakes} wake-ups for {withWork} with a deadline due");
    }
}
