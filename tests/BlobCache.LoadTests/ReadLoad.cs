using System.Diagnostics;
using System.Net.Sockets;
using HdrHistogram;

namespace BlobCache.LoadTests;

/// <summary>What one load run measured.</summary>
public sealed record LoadResult(string Target, int RangeBytes, int Concurrency, long Requests, long Errors, double Seconds, double MiBPerSecond,
    double P50Ms, double P99Ms, double P999Ms)
{
    public double RequestsPerSecond => Seconds <= 0 ? 0 : Requests / Seconds;
}

/// <summary>
/// A closed-loop reader: <c>concurrency</c> workers (each its own keep-alive connection) each send a ranged GET for a random slice of a blob, read the
/// body into a reused buffer, record the latency in an HDR histogram (microseconds), and send the next; a
/// warm-up period runs first and is not recorded. The same code measures BlobCache, nginx and Azurite.
/// </summary>
public static class ReadLoad
{
    public static async Task<LoadResult> RunAsync(string target, string url, long blobLength, int rangeBytes, int concurrency,
        TimeSpan warmUp, TimeSpan duration, int seed, bool fixedRange = false)
    {
        var uri = new Uri(url);
        var histogram = new LongHistogram(TimeSpan.TicksPerMinute, 3);
        long requests = 0, errors = 0, bytes = 0;
        long recordFrom = (long)(warmUp.TotalSeconds * Stopwatch.Frequency), stopAt = recordFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long started = Stopwatch.GetTimestamp();
        long recordStart = started + recordFrom, end = started + stopAt;
        var workers = Enumerable.Range(0, concurrency).Select(w => Task.Run(async () =>
        {
            var random = new Random(seed * 7919 + w);
            using var client = new RawHttpClient(uri, Math.Min(rangeBytes, 1 << 20));
            var local = new LongHistogram(TimeSpan.TicksPerMinute, 3);
            long myRequests = 0, myErrors = 0, myBytes = 0;
            while (true)
            {
                long now = Stopwatch.GetTimestamp();
                if (now >= end) break;
                long start = fixedRange ? 0 : random.NextInt64(0, Math.Max(1, blobLength - rangeBytes));
                long t0 = Stopwatch.GetTimestamp();
                bool ok = false;
                long got = 0;
                try
                {
                    (int status, got) = await client.GetRangeAsync(start, start + rangeBytes - 1, CancellationToken.None).ConfigureAwait(false);
                    ok = status == 206 && got == rangeBytes;
                }
                catch (Exception e) when (e is IOException or SocketException)
                {
                    client.Reset();
                }
                long t1 = Stopwatch.GetTimestamp();
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
        })).ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
        double seconds = duration.TotalSeconds;
        return new LoadResult(target, rangeBytes, concurrency, requests, errors, seconds, bytes / 1048576.0 / seconds,
            histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(50) / 1000.0,
            histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(99) / 1000.0,
            histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(99.9) / 1000.0);
    }
}
