using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using BlobCache.Node.Tests.Infrastructure;
using BlobCache.Sim.Scenarios;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Calibration;

/// <summary>
/// The simulator held to a real mesh: the same small read workload on real node processes over Azurite and in the
/// simulator at the same size, chunk size and reader pattern (the scenario files beside this class). What the
/// routing decides must agree: Blob GETs exactly, the share of bytes a reader found in its own cache within 10
/// points. Completion times depend on a shared machine, so they are printed, not asserted: the scenario files
/// describe this machine's cores and what each process's work costs them, measured with the native build
/// (docs/simulator.md, calibration), and the JIT build CI runs is slower by what it compiles.
/// </summary>
/// <remarks>
/// <c>BLOBCACHE_CALIBRATION_NODES</c> runs the same comparison at another size (docs/simulator.md, calibration).
/// </remarks>
[Collection(MeshCollection.Name)]
public sealed class SimulatorCalibrationTests(MeshFixture fixture, ITestOutputHelper output)
{
    private const int MiB = 1024 * 1024;
    /// <summary>The simulator's shards are a random permutation, so its byte split is averaged over a few seeds.</summary>
    private const int SimSeeds = 5;
    private const string WarmUpBlob = "big/forty.bin";

    [Fact]
    public async Task An_epoch_on_real_nodes_reads_Blob_once_per_chunk_and_finds_as_much_locally_as_the_simulated_epoch()
    {
        const string name = "big/hundred.bin";
        Scenario scenario = CalibrationScenario("calibration-epoch.json", defaultNodes: 3);
        int chunkSize = scenario.Workload!.ChunkMib * MiB;
        long length = fixture.Dataset.Lengths[name];
        int chunks = (int)((length + chunkSize - 1) / chunkSize);
        Assert.Equal(scenario.Workload.Chunks, chunks);
        var direct = Stopwatch.StartNew();
        byte[] expected = (await Blob(fixture.Azurite.Client, name).DownloadContentAsync()).Value.Content.ToArray();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Azurite read {length / (double)MiB:F0} MiB in one GET at {length / (double)MiB / direct.Elapsed.TotalSeconds:F0} MiB/s"));

        List<NodeProcess> nodes = await fixture.StartMeshAsync("calib-epoch", scenario.Nodes, "--chunk-size-mb", scenario.Workload.ChunkMib.ToString(CultureInfo.InvariantCulture));
        // As the simulated epoch: the k-th node reads every N-th chunk of a permutation, then of another one.
        var shuffle = new Random(20261207);
        (ReadFigures real, HostCpu cpu) = await MeasureAsync(nodes, scenario, async () =>
        {
            for (int phase = 0; phase < 2; phase++)
            {
                int[] order = Enumerable.Range(0, chunks).OrderBy(_ => shuffle.Next()).ToArray();
                await Task.WhenAll(nodes.Select((n, k) => ReadChunksAsync(n, name, order.Where((_, i) => i % nodes.Count == k), chunkSize, scenario.Workload.ReaderConcurrency, expected)));
            }
        });

        AssertAgree(scenario, chunks, real, cpu, Simulate(scenario));
    }

    [Fact]
    public async Task A_stampede_on_real_nodes_reads_Blob_once_per_chunk_and_finds_as_much_locally_as_the_simulated_stampede()
    {
        const string name = "big/sixty-four.bin";
        Scenario scenario = CalibrationScenario("calibration-stampede.json", defaultNodes: 6);
        int chunkSize = scenario.Workload!.ChunkMib * MiB;
        int chunks = (int)((fixture.Dataset.Lengths[name] + chunkSize - 1) / chunkSize);
        Assert.Equal(scenario.Workload.Chunks, chunks);

        // A reader turned away comes back to the owner after a doubling backoff; enough rounds that a loaded box
        // still finds a slot or a holder before it would give up on the owners (as in the hand-off test).
        List<NodeProcess> nodes = await fixture.StartMeshAsync("calib-stampede", scenario.Nodes,
            "--chunk-size-mb", scenario.Workload.ChunkMib.ToString(CultureInfo.InvariantCulture),
            "--max-peer-sends", scenario.Workload.OwnerConcurrency.ToString(CultureInfo.InvariantCulture));
        (ReadFigures real, HostCpu cpu) = await MeasureAsync(nodes, scenario, () => Task.WhenAll(nodes.Select(n => DownloadAsync(n, name, chunkSize, scenario.Workload.ReaderConcurrency))));

        AssertAgree(scenario, chunks, real, cpu, Simulate(scenario));
    }

    /// <summary>
    /// Runs <paramref name="workload"/> on <paramref name="nodes"/> (and stops them): what it did by the nodes' counters
    /// and what CPU the machine spent on it. Every node first downloads another blob through its endpoint, so the read
    /// path's code (the endpoint, peer transfers both ways, Blob fills) is compiled before the clock starts: the
    /// simulator models nodes that have served for a while, and a fresh process's first seconds of JIT would be
    /// measured as the workload's.
    /// </summary>
    private async Task<(ReadFigures Real, HostCpu Cpu)> MeasureAsync(List<NodeProcess> nodes, Scenario scenario, Func<Task> workload)
    {
        try
        {
            int chunkSize = scenario.Workload!.ChunkMib * MiB;
            await Task.WhenAll(nodes.Select(n => DownloadAsync(n, WarmUpBlob, chunkSize, scenario.Workload.ReaderConcurrency)));
            ReadFigures warm = ReadFigures.Of(await Task.WhenAll(nodes.Select(n => n.StatusAsync())), 0);
            HostCpu before = HostCpu.Take(fixture.Azurite.Pid, nodes.Select(n => n.Pid));
            var clock = Stopwatch.StartNew();
            await workload();
            double seconds = clock.Elapsed.TotalSeconds;
            HostCpu cpu = HostCpu.Take(fixture.Azurite.Pid, nodes.Select(n => n.Pid)) - before;
            return (ReadFigures.Of(await Task.WhenAll(nodes.Select(n => n.StatusAsync())), 0).Since(warm, seconds), cpu);
        }
        finally
        {
            foreach (NodeProcess n in nodes) await n.DisposeAsync();
        }
    }

    /// <summary>A whole blob through one node by the SDK's parallel download, chunk-sized GETs, checked against its SHA-256.</summary>
    private async Task DownloadAsync(NodeProcess node, string name, int chunkSize, int concurrency)
    {
        // Sized up front and hashed in place: twelve readers growing and copying 64 MiB buffers in one process cost
        // more CPU than the nodes they measure.
        int length = (int)fixture.Dataset.Lengths[name];
        using var buffer = new MemoryStream(length);
        await Blob(node.Client, name).DownloadToAsync(buffer, new BlobDownloadToOptions
        {
            TransferOptions = new Azure.Storage.StorageTransferOptions
            {
                InitialTransferSize = chunkSize, MaximumTransferSize = chunkSize, MaximumConcurrency = concurrency,
            },
        });
        Assert.True(buffer.Length == length && fixture.Dataset.Sha256[name] == Convert.ToHexStringLower(SHA256.HashData(buffer.GetBuffer().AsSpan(0, length))),
            $"{name} through {node.Id} has wrong bytes");
    }

    private void AssertAgree(Scenario scenario, int chunks, ReadFigures real, HostCpu cpu, IReadOnlyList<ReadFigures> simulated)
    {
        double simLocalShare = simulated.Average(s => s.LocalShare);
        output.WriteLine($"{scenario.Name}, {scenario.Nodes} nodes, {chunks} chunks of {scenario.Workload!.ChunkMib} MiB");
        output.WriteLine($"real:      {real}");
        output.WriteLine($"           {cpu.Describe(real.Seconds)}");
        foreach (ReadFigures s in simulated) output.WriteLine($"simulated: {s}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"local share: real {real.LocalShare:P1}, simulated (mean of {simulated.Count} seeds) {simLocalShare:P1}"));

        Assert.Equal(chunks, real.BlobGets);
        Assert.All(simulated, s => Assert.Equal(chunks, s.BlobGets));
        Assert.All(simulated, s => Assert.Equal(real.BytesTotal, s.BytesTotal, tolerance: chunks * (double)scenario.Workload.ChunkMib * MiB * 0.10));
        Assert.True(Math.Abs(real.LocalShare - simLocalShare) <= 0.10,
            string.Create(CultureInfo.InvariantCulture, $"real nodes found {real.LocalShare:P1} of the bytes in their own cache, the simulator {simLocalShare:P1}"));
    }

    /// <summary>The scenario at its seeds; each run must finish every read.</summary>
    private static List<ReadFigures> Simulate(Scenario scenario)
    {
        var runs = new List<ReadFigures>();
        for (ulong seed = 1; seed <= SimSeeds; seed++)
        {
            DataReport d = new ScenarioRunner(scenario, seed).Run().Data!;
            Assert.True(d.ReadsDone == d.ReadsTotal, $"seed {seed}: the simulator finished {d.ReadsDone} of {d.ReadsTotal} reads");
            runs.Add(ReadFigures.Of(d));
        }
        return runs;
    }

    private static Scenario CalibrationScenario(string file, int defaultNodes)
    {
        Scenario scenario = Scenario.Load(Path.Combine(AppContext.BaseDirectory, "Calibration", file));
        string? nodes = Environment.GetEnvironmentVariable("BLOBCACHE_CALIBRATION_NODES");
        return scenario with { Nodes = nodes is null ? defaultNodes : int.Parse(nodes, CultureInfo.InvariantCulture) };
    }

    private static BlobClient Blob(BlobServiceClient client, string name) => client.GetBlobContainerClient(Dataset.Container).GetBlobClient(name);

    /// <summary>Reads whole chunks of a blob by range through one node, a few at a time, checking each against the original.</summary>
    private static Task ReadChunksAsync(NodeProcess node, string name, IEnumerable<int> chunks, int chunkSize, int concurrency, byte[] expected)
    {
        BlobClient blob = Blob(node.Client, name);
        return Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (chunk, ct) =>
        {
            long offset = (long)chunk * chunkSize;
            int length = (int)Math.Min(chunkSize, expected.Length - offset);
            BinaryData got = (await blob.DownloadContentAsync(new BlobDownloadOptions { Range = new HttpRange(offset, length) }, ct)).Value.Content;
            Assert.True(got.ToMemory().Span.SequenceEqual(expected.AsSpan((int)offset, length)), $"chunk {chunk} of {name} through {node.Id} has wrong bytes");
        });
    }
}
