using BlobCache.Mesh;
using BlobCache.Node.Config;
using BlobCache.Node.Gossip;
using BlobCache.Testing;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Tests.Unit;

/// <summary>What a node logs while its seeds do not answer: routine at first, a warning once it has gone on.</summary>
public sealed class JoinLoggingTests
{
    [Fact]
    public async Task Join_retries_are_information_until_no_seed_has_answered_for_a_while_then_a_warning()
    {
        var log = new RecordingLogger();
        int silentSeed = Ports.Next(); // nobody listens there, as when the seed node is still starting
        var options = new NodeOptions { NodeId = "newcomer", GossipPort = Ports.Next(), Seeds = [$"127.0.0.1:{silentSeed}"] };
        var fastRetries = MeshConfig.Default with { JoinRetryInterval = TimeSpan.FromMilliseconds(20) };
        await using var host = new GossipHost(options, log, keys: null, fastRetries);
        host.Start();

        int enough = GossipHost.JoinRetriesBeforeWarning + 1;
        await Wait.UntilAsync(() => Task.FromResult(log.Retries().Count >= enough), TimeSpan.FromSeconds(30), $"{enough} join retries");

        List<(LogLevel Level, string Message)> retries = log.Retries();
        for (int i = 0; i < GossipHost.JoinRetriesBeforeWarning - 1; i++)
            Assert.True(retries[i].Level == LogLevel.Information, $"retry {i + 1} was logged as {retries[i].Level}: {retries[i].Message}");
        Assert.Equal(LogLevel.Warning, retries[GossipHost.JoinRetriesBeforeWarning - 1].Level);
        Assert.Contains($"127.0.0.1:{silentSeed}", retries[GossipHost.JoinRetriesBeforeWarning - 1].Message, StringComparison.Ordinal);
        Assert.Equal(LogLevel.Information, retries[GossipHost.JoinRetriesBeforeWarning].Level);
    }

    private sealed class RecordingLogger : ILogger
    {
        private readonly List<(LogLevel Level, string Message)> _entries = [];

        public List<(LogLevel Level, string Message)> Retries()
        {
            // A node whose seeds never answer logs nothing else about joining.
            lock (_entries) return _entries.Where(e => e.Message.Contains("join", StringComparison.OrdinalIgnoreCase)).ToList();
        }

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_entries) _entries.Add((logLevel, formatter(state, exception)));
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    }
}
