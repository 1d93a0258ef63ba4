using BlobCache.Node.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Endpoint;

/// <summary>
/// One Information line for every 4xx/5xx the endpoint answers (method, path, status, error code, reason), at most
/// 20 a second, so an operator can see why readers fail without a flood of bad requests filling the disk.
/// </summary>
public sealed class ErrorAnswerLog(ILogger logger, int perSecond = 20)
{
    private readonly LogRateLimit _limit = new(perSecond);

    public void Write(HttpContext context, int status, string code, string message)
    {
        if (status < 400 || !logger.IsEnabled(LogLevel.Information)) return;
        if (!_limit.TryEnter(out long suppressed)) return;
        if (suppressed > 0) logger.LogInformation("suppressed {Count} error answer lines (more than {PerSecond} a second)", suppressed, perSecond);
        logger.LogInformation("{Method} {Path} answered {Status} {Code}: {Message}", context.Request.Method, context.Request.Path.Value, status, code, message);
    }
}
