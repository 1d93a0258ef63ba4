using System.Diagnostics;
using System.Globalization;
using System.Net;
using BlobCache.Node.Hosting;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Faults;

/// <summary>
/// Two nodes in different network namespaces joined by a veth pair, optionally with <c>tc netem</c> loss and latency
/// on both ends. Needs root, iproute2 and (for netem) the sch_netem kernel module; skips with the reason otherwise.
/// Node B reaches Azurite through a pass-through proxy on the host's end of the link, so its Blob reads cross the
/// impaired link too.
/// </summary>
[Collection(MeshCollection.Name)]
public sealed class NetworkFaultTests(MeshFixture fixture, ITestOutputHelper output)
{
    /// <summary>A namespace and a veth pair named after this process, so parallel runs on one machine do not collide.</summary>
    private sealed class Link : IAsyncDisposable
    {
        public string Namespace { get; }
        public string HostSide { get; }
        public string NsSide { get; }
        public string HostIp { get; }
        public string NsIp { get; }

        public Link()
        {
            int pid = Environment.ProcessId;
            Namespace = $"bcfault{pid}";
            HostSide = $"bcf{pid % 1_000_000}h";
            NsSide = $"bcf{pid % 1_000_000}n";
            string net = $"10.{100 + pid % 100}.{pid / 100 % 250}";
            HostIp = net + ".1";
            NsIp = net + ".2";
        }

        /// <summary>Null when the link is up; otherwise why it could not be made.</summary>
        public async Task<string?> SetUpAsync()
        {
            string[][] steps =
            [
                ["ip", "netns", "add", Namespace],
                ["ip", "link", "add", HostSide, "type", "veth", "peer", "name", NsSide],
                ["ip", "link", "set", NsSide, "netns", Namespace],
                ["ip", "addr", "add", HostIp + "/30", "dev", HostSide],
                ["ip", "link", "set", HostSide, "up"],
                ["ip", "netns", "exec", Namespace, "ip", "addr", "add", NsIp + "/30", "dev", NsSide],
                ["ip", "netns", "exec", Namespace, "ip", "link", "set", NsSide, "up"],
                ["ip", "netns", "exec", Namespace, "ip", "link", "set", "lo", "up"],
            ];
            foreach (string[] step in steps)
            {
                (int code, string text) = await Shell.RunAsync(step);
                if (code != 0) return $"`{string.Join(' ', step)}` failed: {text}";
            }
            return null;
        }

        /// <summary>5% loss and 50 ms latency each way (netem on both ends). Null when applied, else why not.</summary>
        public async Task<string?> ImpairAsync()
        {
            string[] netem = ["netem", "delay", "50ms", "loss", "5%"];
            (int code, string text) = await Shell.RunAsync(["tc", "qdisc", "add", "dev", HostSide, "root", .. netem]);
            if (code != 0) return $"`tc qdisc add ... netem` failed: {text} (no sch_netem in this kernel, or no tc)";
            (code, text) = await Shell.RunAsync(["ip", "netns", "exec", Namespace, "tc", "qdisc", "add", "dev", NsSide, "root", .. netem]);
            return code == 0 ? null : $"netem inside the namespace failed: {text}";
        }

        public async ValueTask DisposeAsync()
        {
            await Shell.RunAsync("ip", "link", "del", HostSide);
            await Shell.RunAsync("ip", "netns", "del", Namespace);
        }
    }

    [SkippableFact]
    public Task Nodes_in_separate_network_namespaces_gossip_and_fetch_chunks_byte_exact() => RunLinkAsync(impaired: false);

    [SkippableFact]
    public Task Under_5_percent_loss_and_50_ms_latency_chunks_arrive_byte_exact_and_gossip_declares_no_false_deaths() => RunLinkAsync(impaired: true);

    private void SkipBecause(string reason)
    {
        Survivors.Say(output, "SKIPPED network-namespace test: " + reason);
        Skip.If(true, reason);
    }

    private async Task RunLinkAsync(bool impaired)
    {
        if (!OperatingSystem.IsLinux()) SkipBecause("network namespaces are Linux only");
        await using var link = new Link();
        string? problem = await link.SetUpAsync();
        if (problem is not null) SkipBecause(problem);
        if (impaired && (problem = await link.ImpairAsync()) is not null) SkipBecause(problem);

        await using var proxy = new FaultProxy(fixture.Azurite.Port, IPAddress.Parse(link.HostIp));
        proxy.Start();
        string originForB = Azurite.ConnectionStringFor(proxy.Port).Replace("127.0.0.1", link.HostIp, StringComparison.Ordinal);
        NodeProcess a = NodeProcess.Start("net-a", fixture.Azurite.ConnectionString, [], "--host", link.HostIp);
        NodeProcess b = NodeProcess.StartWrapped(["ip", "netns", "exec", link.Namespace], "net-b", originForB, [a.GossipAddress], "--host", link.NsIp);
        NodeProcess[] nodes = [a, b];
        try
        {
            foreach (NodeProcess n in nodes) await n.WaitReadyAsync(TimeSpan.FromSeconds(90));
            await Wait.UntilAsync(async () => (await a.StatusAsync()).LiveMembers == 2 && (await b.StatusAsync()).LiveMembers == 2,
                TimeSpan.FromSeconds(60), "the two namespaces to see each other");

            var names = fixture.Dataset.Sha256.Keys.Where(k => k.StartsWith("samples/", StringComparison.Ordinal)).Append("big/nine.bin").ToList();
            if (!impaired) names.Add("big/seventeen.bin");
            var tally = new ReadTally();
            var sw = Stopwatch.StartNew();
            // Both views are watched for the whole run: a member seen as anything but alive is a (false) suspicion or death.
            var watch = new MembershipWatch(nodes);
            await using (watch)
            {
                // Each node reads everything through itself: about half the chunks are owned across the link.
                await tally.ReadThroughEachAsync(nodes, Dataset.Container, names, fixture.Dataset.Sha256);
            }
            TimeSpan took = sw.Elapsed;

            StatusReport sa = await a.StatusAsync(), sb = await b.StatusAsync();
            int suspicions = MembershipWatch.Logged(nodes, "Suspect"), deaths = MembershipWatch.Logged(nodes, "Dead");
            string fault = impaired ? "two network namespaces, netem 5% loss + 50 ms latency each way" : "two network namespaces over a veth pair";
            Survivors.Say(output, $"{fault}: {names.Count} blobs read on each side in {took.TotalSeconds:F1} s; peer reads a={sa.ReadsBySource["peer"]} b={sb.ReadsBySource["peer"]}, peer failures {sa.PeerFailures + sb.PeerFailures}; " +
                $"{watch.Figures}; log: {suspicions} suspicions, {deaths} deaths");
            tally.Report(output, fault);
            Assert.Equal(tally.Attempted, tally.Exact);
            Assert.True(sa.ReadsBySource["peer"] + sb.ReadsBySource["peer"] > 0, "no chunk crossed the link");
            Assert.Equal(0, watch.Dead);
            Assert.Equal(0, deaths);
            await Survivors.AssertAliveAsync(nodes);
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }
}
