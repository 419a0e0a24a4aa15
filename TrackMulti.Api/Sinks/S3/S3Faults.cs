using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Polly.Timeout;

namespace TrackMulti.Api.Sinks.S3;

/// <summary>Which S3 failures are worth retrying at once, and a short reason for logs, status and metrics.</summary>
public static class S3Faults
{
    private static readonly HashSet<string> ThrottlingCodes =
        ["SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "RequestTimeout"];

    /// <summary>5xx, throttling, timeouts and connection faults. Not 403 or NoSuchBucket: those need a human.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        AmazonServiceException { StatusCode: var status, ErrorCode: var code } when status != 0 =>
            (int)status >= 500 || status == HttpStatusCode.TooManyRequests || (code is not null && ThrottlingCodes.Contains(code)),
        TimeoutRejectedException or TimeoutException or HttpRequestException or IOException or SocketException => true,
        // The SDK wraps connection faults (no status yet) in its own exception types.
        AmazonClientException { InnerException: { } inner } => IsTransient(inner),
        AmazonServiceException { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };

    /// <summary>A short, low-cardinality reason for metrics: throttled, timeout, server_error, access_denied, …</summary>
    public static string Reason(Exception exception) => exception switch
    {
        AmazonServiceException { StatusCode: HttpStatusCode.TooManyRequests } => "throttled",
        AmazonServiceException { ErrorCode: { } code } when ThrottlingCodes.Contains(code) => "throttled",
        AmazonServiceException { StatusCode: HttpStatusCode.Forbidden } => "access_denied",
        AmazonServiceException { ErrorCode: "NoSuchBucket" } => "no_such_bucket",
        AmazonServiceException { StatusCode: var status } when (int)status >= 500 => "server_error",
        AmazonServiceException { StatusCode: var status } when status != 0 => "client_error",
        TimeoutRejectedException or TimeoutException or OperationCanceledException => "timeout",
        HttpRequestException or IOException or SocketException => "connection",
        AmazonClientException { InnerException: { } inner } => Reason(inner),
        AmazonServiceException { InnerException: { } inner } => Reason(inner),
        _ => "other",
    };

    public static string Describe(Exception exception) => exception switch
    {
        AmazonServiceException { StatusCode: var status, ErrorCode: var code } when status != 0 =>
            $"{(int)status} {code ?? status.ToString()}: {exception.Message}",
        TimeoutRejectedException => "the upload attempt timed out",
        _ => $"{exception.GetType().Name}: {exception.Message}",
    };
}
