using BlobCache.Node.Config;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Hosting;

/// <summary>The node's log lines: one line each (text or JSON), UTC timestamps, the frameworks' chatter held to warnings.</summary>
internal static class NodeLogging
{
    public static void Configure(ILoggingBuilder logging, NodeOptions options)
    {
        if (options.LogFormat == "json")
        {
            logging.AddJsonConsole(c =>
            {
                c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                c.UseUtcTimestamp = true;
            });
        }
        else
        {
            logging.AddSimpleConsole(c =>
            {
                c.SingleLine = true;
                c.TimestampFormat = "HH:mm:ss.fff ";
                c.UseUtcTimestamp = true;
            });
        }
        logging.SetMinimumLevel(Enum.Parse<LogLevel>(options.LogLevel));
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        logging.AddFilter("Grpc", LogLevel.Warning);
        logging.AddFilter("System.Net.Http", LogLevel.Warning);
    }
}
