using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using BlobCache.Testing;
using Xunit.Abstractions;

namespace BlobCache.Node.Tests.Faults;

/// <summary>
/// Whole-blob reads under a fault, each checked against the uploaded bytes' SHA-256, sorted into byte-exact, failed
/// with a clear error (a Blob-style status with <c>x-ms-error-code</c>, or a connection the node cut after the
/// headers, which a reader cannot mistake for data), and the two outcomes that must never happen: wrong bytes and
/// unexplained failures.
/// </summary>
public sealed class ReadTally
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(120) };
    private int _attempted, _exact, _clearStatus, _cut, _wrong, _unclear;
    private long _slowestTicks;
    private readonly ConcurrentQueue<string> _problems = new();
    private readonly ConcurrentDictionary<string, int> _errors = new();
    private readonly ConcurrentBag<double> _seconds = [];

    public int Attempted => _attempted;
    public int Exact => _exact;
    public int ClearErrors => _clearStatus + _cut;
    public int Wrong => _wrong;
    public int Unclear => _unclear;
    public TimeSpan Slowest => TimeSpan.FromTicks(Interlocked.Read(ref _slowestTicks));

    public double MedianSeconds
    {
        get
        {
            double[] all = _seconds.Order().ToArray();
            return all.Length == 0 ? 0 : all[all.Length / 2];
        }
    }

    /// <summary>Error statuses and codes seen, e.g. "504 OperationTimedOut" → count.</summary>
    public IReadOnlyDictionary<string, int> Errors => _errors;

    /// <summary>Reads <paramref name="name"/> of the dataset container through <paramref name="node"/> and sorts the outcome.</summary>
    public Task ReadAsync(NodeProcess node, string container, string name, string sha256) =>
        ReadAsync($"{node.Endpoint}/{container}/{name}", sha256, $"{name} via {node.Id}");

    /// <summary>Every node reads every one of <paramref name="names"/> through itself, the nodes at once, each in order.</summary>
    public Task ReadThroughEachAsync(IEnumerable<NodeProcess> nodes, string container, IReadOnlyList<string> names, IReadOnlyDictionary<string, string> sha256) =>
        Task.WhenAll(nodes.Select(async n =>
        {
            foreach (string name in names) await ReadAsync(n, container, name, sha256[name]).ConfigureAwait(false);
        }));

    public async Task ReadAsync(string url, string sha256, string what)
    {
        Interlocked.Increment(ref _attempted);
        var sw = Stopwatch.StartNew();
        try
        {
            using HttpResponseMessage response = await Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                string code = response.Headers.TryGetValues("x-ms-error-code", out var codes) ? string.Join(',', codes) : "";
                _errors.AddOrUpdate($"{(int)response.StatusCode} {code}", 1, (_, n) => n + 1);
                if ((int)response.StatusCode >= 400 && code.Length > 0) Interlocked.Increment(ref _clearStatus);
                else Fail(ref _unclear, $"{what}: {(int)response.StatusCode} without x-ms-error-code");
                return;
            }
            byte[] body;
            try
            {
                body = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                // The node had sent 200 and then lost its source: it cuts the connection rather than send bad bytes.
                _errors.AddOrUpdate("cut after headers", 1, (_, n) => n + 1);
                Interlocked.Increment(ref _cut);
                return;
            }
            if (Convert.ToHexStringLower(SHA256.HashData(body)) == sha256) Interlocked.Increment(ref _exact);
            else Fail(ref _wrong, $"{what}: WRONG BYTES ({body.Length} bytes)");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            Fail(ref _unclear, $"{what}: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            _seconds.Add(sw.Elapsed.TotalSeconds);
            long ticks = sw.Elapsed.Ticks, seen;
            while (ticks > (seen = Interlocked.Read(ref _slowestTicks)) && Interlocked.CompareExchange(ref _slowestTicks, ticks, seen) != seen)
            {
            }
        }
    }

    private void Fail(ref int counter, string problem)
    {
        Interlocked.Increment(ref counter);
        _problems.Enqueue(problem);
    }

    /// <summary>The line the lead quotes: reads attempted / byte-exact / failed with a clear error.</summary>
    public string Figures(string fault) =>
        $"FAULT {fault}: reads attempted {Attempted}, byte-exact {Exact}, failed with a clear error {ClearErrors}" +
        (_errors.IsEmpty ? "" : $" ({string.Join(", ", _errors.OrderBy(e => e.Key).Select(e => $"{e.Value}× {e.Key}"))})") +
        $", wrong bytes {Wrong}, unclear failures {Unclear}; read time median {MedianSeconds:F2} s, slowest {Slowest.TotalSeconds:F2} s";

    /// <summary>Prints the figures and fails on any wrong byte or unexplained failure.</summary>
    public void Report(ITestOutputHelper output, string fault)
    {
        string line = Figures(fault);
        output.WriteLine(line);
        Console.WriteLine(line);
        Assert.True(Wrong == 0 && Unclear == 0, line + "\n" + string.Join("\n", _problems.Take(20)));
    }
}

/// <summary>Checks that fault tests share: no node crashed.</summary>
public static class Survivors
{
    /// <summary>Each node's process is alive and its /healthz answers 200.</summary>
    public static async Task AssertAliveAsync(IEnumerable<NodeProcess> nodes)
    {
        foreach (NodeProcess n in nodes)
        {
            Assert.False(n.HasExited, $"{n.Id} exited with {n.ExitCode}:\n{n.LogTail(40)}");
            using HttpResponseMessage health = await n.GetAsync("/healthz");
            Assert.True(health.IsSuccessStatusCode, $"{n.Id} /healthz answered {(int)health.StatusCode}");
        }
    }

    /// <summary>Prints a line both to the test's output and to the console (where `dotnet test` shows it with a console logger).</summary>
    public static void Say(ITestOutputHelper output, string line)
    {
        output.WriteLine(line);
        Console.WriteLine(line);
    }
}
