using BlobCache.Node.Endpoint;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Tests.Unit;

public sealed class ErrorAnswerLogTests
{
    private sealed class Lines : ILogger
    {
        public List<string> Written { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) Written.Add(formatter(state, exception));
        }
    }

    [Fact]
    public void A_flood_of_error_answers_writes_at_most_the_limit_of_lines_and_says_how_many_it_dropped()
    {
        var lines = new Lines();
        var log = new ErrorAnswerLog(lines, perSecond: 5);
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = "/devstoreaccount1/c/missing.bin";
        log.Write(context, 200, "", "not an error");
        for (int i = 0; i < 1000; i++) log.Write(context, 404, "BlobNotFound", "The specified blob does not exist.");
        Assert.Equal(5, lines.Written.Count);
        Assert.Equal("GET /devstoreaccount1/c/missing.bin answered 404 BlobNotFound: The specified blob does not exist.", lines.Written[0]);
    }
}
