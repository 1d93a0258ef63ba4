using System.Diagnostics;
using System.Net.Sockets;
using HdrHistogram;

namespace BlobCache.LoadTests;

/// <summary>What one load run measured.</summary>
public sealed record LoadResult(string Target, int RangeBytes, int Concurrency, long Requests, long Errors, double Seconds, double MiBPerSecond,
    double P50Ms, double P99Ms, double P999Ms)
{
    public double RequestsPerSecond => Seconds <= 0 ? 0 : Requests / Seconds;

    /// <summary>The server's CPU time per request, in µs (0 when not measured).</summary>
    public double ServerCpuUs { get; init; }

    /// <summary>Every complete, correct answer, warm-up and the last ones past the end included: what the server sent.</summary>
    public long Answered { get; init; }
}

/// <summary>
/// A closed-loop reader: <c>concurrency</c> workers (each a dedicated thread with its own keep-alive connection and
/// blocking socket calls) each send a ranged GET for a random slice of a blob, read the body into a reused buffer,
/// record the latency in an HDR histogram (microseconds), and send the next; a warm-up period runs first and is not
/// recorded. The same code measures BlobCache, nginx and Azurite. Blocking threads rather than async sockets: an
/// async completion costs a thread-pool dispatch per receive, which on 2 shared cores is CPU taken from the server.
/// </summary>
public static class ReadLoad
{
    public static Task<LoadResult> RunAsync(string target, string url, long blobLength, int rangeBytes, int concurrency,
        TimeSpan warmUp, TimeSpan duration, int seed, bool fixedRange = false)
    {
        var uri = new Uri(url);
        var histogram = new LongHistogram(TimeSpan.TicksPerMinute, 3);
        long requests = 0, errors = 0, bytes = 0, answered = 0;
        int running = concurrency;
        var done = new TaskCompletionSource<LoadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        long started = Stopwatch.GetTimestamp();
        long recordStart = started + (long)(warmUp.TotalSeconds * Stopwatch.Frequency);
        long end = recordStart + (long)(duration.TotalSeconds * Stopwatch.Frequency);

        void Worker(int w)
        {
            try
            {
                var random = new Random(seed * 7919 + w);
                using var client = new RawHttpClient(uri, Math.Min(rangeBytes, 1 << 20));
                var local = new LongHistogram(TimeSpan.TicksPerMinute, 3);
                long myRequests = 0, myErrors = 0, myBytes = 0, myAnswered = 0;
                long t1 = Stopwatch.GetTimestamp();
                while (t1 < end)
                {
                    long start = fixedRange ? 0 : random.NextInt64(0, Math.Max(1, blobLength - rangeBytes));
                    long t0 = t1;
                    bool ok = false;
                    long got = 0;
                    try
                    {
                        (int status, got) = client.GetRange(start, start + rangeBytes - 1);
                        ok = status == 206 && got == rangeBytes;
                    }
                    catch (Exception e) when (e is IOException or SocketException)
                    {
                        client.Reset();
                    }
                    t1 = Stopwatch.GetTimestamp();
                    if (ok) myAnswered++;
                    if (t0 < recordStart || t1 > end) continue; // warm-up, or finishing past the end
                    if (!ok)
                    {
                        myErrors++;
                        continue;
                    }
                    local.RecordValue(Math.Max(1, (t1 - t0) * 1_000_000 / Stopwatch.Frequency));
                    myRequests++;
                    myBytes += got;
                }
                lock (histogram) histogram.Add(local);
                Interlocked.Add(ref requests, myRequests);
                Interlocked.Add(ref errors, myErrors);
                Interlocked.Add(ref bytes, myBytes);
                Interlocked.Add(ref answered, myAnswered);
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
            if (Interlocked.Decrement(ref running) == 0) done.TrySetResult(Result());
        }

        LoadResult Result()
        {
            double seconds = duration.TotalSeconds;
            return new LoadResult(target, rangeBytes, concurrency, requests, errors, seconds, bytes / 1048576.0 / seconds,
                histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(50) / 1000.0,
                histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(99) / 1000.0,
                histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(99.9) / 1000.0) { Answered = answered };
        }

        for (int w = 0; w < concurrency; w++)
        {
            int worker = w;
            // A small stack: 64 readers are 64 threads, and a reader needs little.
            new Thread(() => Worker(worker), 256 * 1024) { IsBackground = true, Name = $"reader-{worker}" }.Start();
        }
        return done.Task;
    }
}
