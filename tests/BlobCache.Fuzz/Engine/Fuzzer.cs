using System.Diagnostics;

namespace BlobCache.Fuzz.Engine;

public sealed record FuzzSettings
{
    public long Inputs { get; init; } = 100_000;
    public int Seed { get; init; } = 1;
    /// <summary>One input taking longer than this is a hang (the watchdog reports it and stops the target).</summary>
    public TimeSpan HangLimit { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Stop a target after this many findings.</summary>
    public int MaxFindings { get; init; } = 5;
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(10);
    public Action<FuzzReport>? Progress { get; init; }
}

/// <summary>A crash, hang, broken invariant or allocation over the bound, with what it takes to replay it.</summary>
public sealed record Finding(string Target, string Kind, int Seed, long Input, string Detail, byte[] Bytes, string? History)
{
    public override string ToString() =>
        $"{Target}: {Kind} on input {Input} of seed {Seed}: {Detail}\n  input ({Bytes.Length} bytes): {Hex(Bytes)}" +
        (History is null ? "" : $"\n  after: {History}");

    /// <summary>Up to 512 bytes in hex; a longer input replays from its seed and index.</summary>
    public static string Hex(byte[] bytes) =>
        bytes.Length <= 512 ? Convert.ToHexString(bytes) : Convert.ToHexString(bytes, 0, 512) + $"... ({bytes.Length - 512} more bytes)";
}

public sealed class FuzzReport(string target, int seed)
{
    public string Target { get; } = target;
    public int Seed { get; } = seed;
    public long Inputs;
    public long Accepted;
    public List<Finding> Findings { get; } = [];
    public long PeakAllocated;
    public int PeakAllocatedInputBytes;
    /// <summary>Highest allocated / bound over all inputs (at most 1 unless there is a finding).</summary>
    public double PeakBoundShare;
    /// <summary>Highest allocated bytes per input byte, among inputs of at least 1 KiB.</summary>
    public double PeakRatio;
    public double SlowestMs;
    public TimeSpan Elapsed;

    public int Count(string kind) => Findings.Count(f => f.Kind == kind);
    public double Rate => Inputs / Math.Max(Elapsed.TotalSeconds, 1e-9);

    public override string ToString() =>
        $"{Target,-15} {Inputs,12:N0} inputs {Rate,9:N0}/s  accepted {Accepted,10:N0}  crashes {Count("crash")}  hangs {Count("hang")}  " +
        $"broken invariants {Count("property")}  over allocation bound {Count("allocation")}  peak alloc {PeakAllocated:N0} B " +
        $"(input {PeakAllocatedInputBytes:N0} B, {PeakBoundShare:P0} of bound)  alloc/input byte {PeakRatio:F1}  slowest {SlowestMs:F1} ms";
}

/// <summary>
/// Runs a target over seeded inputs: a quarter freshly generated, the rest mutations of generated ones. Input i of
/// seed s depends on nothing else, so any finding replays from (target, seed, i) or from its printed bytes.
/// </summary>
public static class Fuzzer
{
    private const int CorpusSize = 64;

    public static FuzzReport Run(FuzzTarget target, FuzzSettings settings)
    {
        var report = new FuzzReport(target.Name, settings.Seed);
        var state = new RunState();
        var clock = Stopwatch.StartNew();
        // A thread of its own, so a hang can be reported from here (a .NET thread cannot be aborted).
        var worker = new Thread(() => Loop(target, settings, report, state)) { IsBackground = true, Name = "fuzz " + target.Name };
        worker.Start();
        long lastProgress = 0;
        while (!worker.Join(100))
        {
            long started = Volatile.Read(ref state.StartedAt);
            if (started != 0 && Stopwatch.GetElapsedTime(started) > settings.HangLimit)
            {
                state.Stop = true;
                lock (report)
                {
                    report.Findings.Add(new Finding(target.Name, "hang", settings.Seed, Volatile.Read(ref state.Index),
                        $"still running after {settings.HangLimit.TotalSeconds:F0} s", state.Current ?? [], target.History));
                    report.Elapsed = clock.Elapsed;
                }
                return report; // the worker is a background thread: it dies with the process
            }
            if (settings.Progress is not null && clock.Elapsed.Ticks - lastProgress > settings.ProgressInterval.Ticks)
            {
                lastProgress = clock.Elapsed.Ticks;
                lock (report)
                {
                    report.Elapsed = clock.Elapsed;
                    settings.Progress(report);
                }
            }
        }
        report.Elapsed = clock.Elapsed;
        return report;
    }

    /// <summary>Input <paramref name="index"/> of <paramref name="seed"/>, exactly as <see cref="Run"/> builds it.</summary>
    public static byte[] InputAt(FuzzTarget target, int seed, long index, byte[][]? corpus = null)
    {
        corpus ??= Corpus(target, seed);
        var random = new Random(Mix(seed, index));
        bool fresh = random.Next(4) == 0;
        byte[] input = fresh ? target.Generate(random) : corpus[random.Next(corpus.Length)];
        // Half the fresh inputs go in whole (they reach the accept paths); everything else is mutated.
        if (!fresh || random.Next(2) == 0)
        {
            byte[] other = random.Next(2) == 0 ? corpus[random.Next(corpus.Length)] : target.Generate(random);
            input = Mutator.Mutate(input, other, random, target.Dictionary, target.MaxInputBytes);
        }
        return input.Length > target.MaxInputBytes ? input[..target.MaxInputBytes] : input;
    }

    private static byte[][] Corpus(FuzzTarget target, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, CorpusSize).Select(_ => target.Generate(random))];
    }

    private static int Mix(int seed, long index)
    {
        // SplitMix64 finaliser: neighbouring inputs get unrelated generators.
        ulong z = ((ulong)(uint)seed << 40) ^ (ulong)index;
        z += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return (int)(z ^ (z >> 31));
    }

    private sealed class RunState
    {
        public long StartedAt;
        public long Index;
        public volatile bool Stop;
        public volatile byte[]? Current;
    }

    private static void Loop(FuzzTarget target, FuzzSettings settings, FuzzReport report, RunState state)
    {
        target.Reset();
        byte[][] corpus = Corpus(target, settings.Seed);
        for (long i = 0; i < settings.Inputs && !state.Stop; i++)
        {
            byte[] input = InputAt(target, settings.Seed, i, corpus);
            state.Current = input;
            Volatile.Write(ref state.Index, i);
            Outcome o = Measure(target, input, state);
            lock (report)
            {
                report.Inputs++;
                if (o.Accepted) report.Accepted++;
                report.SlowestMs = Math.Max(report.SlowestMs, o.Milliseconds);
                if (o.Allocated > report.PeakAllocated)
                {
                    report.PeakAllocated = o.Allocated;
                    report.PeakAllocatedInputBytes = input.Length;
                }
                long bound = target.AllocationBound(input.Length);
                report.PeakBoundShare = Math.Max(report.PeakBoundShare, o.Allocated / (double)bound);
                if (input.Length >= 1024) report.PeakRatio = Math.Max(report.PeakRatio, o.Allocated / (double)input.Length);
            }
            Finding? finding = o.Failure is { } f
                ? new Finding(target.Name, f.Kind, settings.Seed, i, f.Detail, input, target.History)
                : null;
            if (finding is null && o.Allocated > target.AllocationBound(input.Length))
            {
                // First calls JIT, load types and build exception machinery on this thread: only a repeat counts.
                Outcome again = Measure(target, input, state);
                if (again.Allocated > target.AllocationBound(input.Length))
                    finding = new Finding(target.Name, "allocation", settings.Seed, i,
                        $"{again.Allocated:N0} bytes allocated for a {input.Length:N0}-byte input (bound {target.AllocationBound(input.Length):N0})", input, target.History);
            }
            if (finding is null) continue;
            target.Reset(); // a stateful target's state after a failure is not worth building on
            lock (report)
            {
                report.Findings.Add(finding);
                if (report.Findings.Count >= settings.MaxFindings) return;
            }
        }
    }

    private readonly record struct Failure(string Kind, string Detail);

    private readonly record struct Outcome(bool Accepted, long Allocated, double Milliseconds, Failure? Failure);

    /// <summary>Runs one input as the fuzzer does, twice (the first warms up): its failure, if any, and the bytes the second run allocated.</summary>
    public static (string? Failure, long Allocated, bool Accepted) Replay(FuzzTarget target, byte[] input)
    {
        target.Reset();
        Measure(target, input, new RunState());
        target.Reset();
        Outcome o = Measure(target, input, new RunState());
        return (o.Failure is { } f ? $"{f.Kind}: {f.Detail}" : null, o.Allocated, o.Accepted);
    }

    private static Outcome Measure(FuzzTarget target, byte[] input, RunState state)
    {
        object? result = null;
        Failure? failure = null;
        object prepared = target.Prepare(input);
        long a0 = GC.GetAllocatedBytesForCurrentThread();
        long t0 = Stopwatch.GetTimestamp();
        Volatile.Write(ref state.StartedAt, t0);
        try
        {
            result = target.Run(prepared);
        }
        catch (Exception e)
        {
            failure = Describe(e);
        }
        long t1 = Stopwatch.GetTimestamp();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - a0;
        if (failure is null)
        {
            try
            {
                target.Check(input, result);
            }
            catch (Exception e)
            {
                failure = Describe(e);
            }
        }
        Volatile.Write(ref state.StartedAt, 0);
        return new Outcome(result is not null, allocated, Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds, failure);
    }

    private static Failure Describe(Exception e) => e is PropertyException
        ? new Failure("property", e.Message)
        : new Failure("crash", $"{e.GetType().Name}: {e.Message} at {FirstFrames(e)}");

    private static string FirstFrames(Exception e) =>
        string.Join(" <- ", (e.StackTrace ?? "").Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Take(3).Select(l => l.StartsWith("at ", StringComparison.Ordinal) ? l[3..] : l));

    /// <summary>
    /// Shrinks a failing input while it still fails the same way (same kind, same exception type): deletes ever
    /// smaller ranges. Gives the regression tests small inputs to hold.
    /// </summary>
    public static byte[] Minimize(FuzzTarget target, byte[] input, int maxTries = 4000)
    {
        string? want = Signature(target, input);
        if (want is null) return input;
        int tries = 0;
        for (int chunk = Math.Max(1, input.Length / 2); chunk >= 1 && tries < maxTries; chunk /= 2)
        {
            for (int at = 0; at + chunk <= input.Length && tries < maxTries; tries++)
            {
                byte[] candidate = [.. input.AsSpan(0, at), .. input.AsSpan(at + chunk)];
                if (Signature(target, candidate) == want) input = candidate;
                else at += chunk;
            }
        }
        return input;
    }

    private static string? Signature(FuzzTarget target, byte[] input)
    {
        target.Reset();
        var state = new RunState();
        Outcome o = Measure(target, input, state);
        if (o.Failure is not { } f) return null;
        return f.Kind == "crash" ? f.Detail[..f.Detail.IndexOf(':', StringComparison.Ordinal)] : f.Kind;
    }
}
