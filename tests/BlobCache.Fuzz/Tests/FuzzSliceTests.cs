using System.Globalization;
using BlobCache.Fuzz.Engine;
using BlobCache.Fuzz.Targets;
using Xunit.Abstractions;

namespace BlobCache.Fuzz.Tests;

/// <summary>
/// The bounded slice CI runs: a fixed seed and a few tens of thousands of inputs per decoder (BLOBCACHE_FUZZ_INPUTS
/// and BLOBCACHE_FUZZ_SEED change both). Long runs use the console mode (docs/fuzzing.md).
/// </summary>
public sealed class FuzzSliceTests(ITestOutputHelper output)
{
    private const int DefaultSeed = 20_261_125;

    public static TheoryData<string> Targets => [.. AllTargets.Names];

    [Theory]
    [MemberData(nameof(Targets))]
    public void No_input_crashes_hangs_breaks_an_invariant_or_allocates_past_its_bound(string name)
    {
        FuzzTarget target = AllTargets.Create(name);
        long inputs = EnvLong("BLOBCACHE_FUZZ_INPUTS", SliceInputs(name));
        int seed = (int)EnvLong("BLOBCACHE_FUZZ_SEED", DefaultSeed);
        FuzzReport report = Fuzzer.Run(target, new FuzzSettings { Inputs = inputs, Seed = seed, MaxFindings = 3 });
        output.WriteLine(report.ToString());
        foreach (Finding f in report.Findings) output.WriteLine(f.ToString());
        Assert.True(report.Findings.Count == 0, string.Join("\n", report.Findings));
        Assert.Equal(inputs, report.Inputs);
        Assert.True(report.Accepted > inputs / 50, $"only {report.Accepted} of {inputs} inputs decoded: the generator is not reaching the accept paths");
        Assert.True(report.Accepted < inputs, "every input decoded: the mutations are not reaching the refusal paths");
    }

    // Sized so the whole slice takes well under a minute on a loaded 2-core machine (the slower, stateful or
    // XML-writing targets get fewer).
    private static long SliceInputs(string name) => name switch
    {
        "http-range" or "http-path" or "grpc-fetch" => 50_000,
        "gossip-decode" or "grpc-piece" or "list-query" => 30_000,
        "gossip-stream" => 8_000, // compresses and decompresses every state it accepts, twice
        _ => 20_000,
    };

    private static long EnvLong(string name, long fallback) =>
        long.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out long v) ? v : fallback;
}
