using BlobCache.Mesh;
using BlobCache.Mesh.Membership;
using BlobCache.Sim.Engine;

namespace BlobCache.Mesh.Tests.Membership;

/// <summary>Builds whole clusters on the simulated network for tests.</summary>
internal static class Clusters
{
    /// <summary>Config for tests: LAN defaults, but anti-entropy and reconnect often enough to matter within a test's minutes.</summary>
    public static MeshConfig Fast { get; } = MeshConfig.Default with
    {
        PushPullInterval = TimeSpan.FromSeconds(5),
        ReconnectInterval = TimeSpan.FromSeconds(3),
    };

    /// <summary>Starts <paramref name="count"/> nodes over three zones, each joining through node 0, and waits until every view is exact.</summary>
    public static SimCluster Converged(int count, ulong seed, MeshConfig? config = null, NetworkModel? network = null)
    {
        var cluster = new SimCluster(seed, config ?? Fast, network);
        cluster.AddNode();
        for (int i = 1; i < count; i++)
        {
            cluster.AddNode(0, i % 3, [0]);
            cluster.RunFor(TimeSpan.FromMilliseconds(5));
        }
        Assert.True(cluster.RunUntil(cluster.IsConverged, TimeSpan.FromSeconds(180)),
            $"{count} nodes did not converge within 180 virtual seconds");
        return cluster;
    }

    /// <summary>Runs two minutes of 10% packet loss, then asserts that nobody was declared dead and the views become exact again.</summary>
    public static void AssertLossCausesNoFalseDeath(SimCluster cluster)
    {
        cluster.Network.Loss = 0.10;
        cluster.RunFor(TimeSpan.FromSeconds(120));
        cluster.Network.Loss = 0;

        Assert.True(cluster.MessagesDropped > 1000, $"only {cluster.MessagesDropped} messages were dropped: the loss did not apply");
        Assert.True(CountEvents(cluster, MemberEventKind.Dead) == 0, Describe(cluster, MemberEventKind.Dead));
        Assert.True(cluster.RunUntil(cluster.IsConverged, TimeSpan.FromSeconds(30)));
    }

    public static int CountEvents(SimCluster cluster, MemberEventKind kind, Func<int, bool>? aboutMember = null) =>
        cluster.EventLog.Count(e => e.Event.Kind == kind && (aboutMember?.Invoke(e.Event.Member) ?? true));

    /// <summary>The events of one kind, for an assertion message: who saw what about whom, and when.</summary>
    public static string Describe(SimCluster cluster, MemberEventKind kind) =>
        $"{kind} events: " + string.Join("; ", cluster.EventLog.Where(e => e.Event.Kind == kind).Take(20)
            .Select(e => $"node {e.Node} saw {cluster.Directory.IdOf(e.Event.Member)} at {e.Event.At / 1000} ms (inc {e.Event.Incarnation})"));

    /// <summary>Longest suspicion a cluster of <paramref name="n"/> can run before declaring a member dead.</summary>
    public static TimeSpan MaxSuspicion(MeshConfig config, int n) => Micros.ToTimeSpan(config.SuspicionTimeouts(n).Max);
}
