using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;
using TrackMulti.Api.Sinks.S3;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// FME's events API as the FME SDK calls it (its <c>urls.events</c> set to <c>…/fme/api</c>): what it posts lands in
/// S3 and is forwarded to FME by the FME sink, with retries the SDK itself does not make.
/// </summary>
public static class FmeSdkApi
{
    public const string BasePath = "/fme/api";

    public static RouteGroupBuilder MapFmeSdkApi(this IEndpointRouteBuilder app)
    {
        var options = app.ServiceProvider.GetRequiredService<IOptions<IngestionOptions>>().Value;
        var api = app.MapGroup(BasePath).WithMetadata(new RequestSizeLimitAttribute(options.MaxBatchBodyBytes));
        if (options.CorsOrigins.Length > 0)
        {
            api.RequireCors(IngestionExtensions.FmeSdkCorsPolicy);
        }

        var events = (EventIntake.SdkReader)((body, beacon, at) => FmeSdkReader.ReadEvents(body, beacon, at, options.MaxBatchEvents));
        Map(api, "/events/bulk", Streams.SdkEvents, events, beacon: false);
        Map(api, "/events/beacon", Streams.SdkEvents, events, beacon: true);
        Map(api, "/testImpressions/bulk", Streams.Impressions, FmeSdkReader.ReadImpressions, beacon: false);
        Map(api, "/testImpressions/beacon", Streams.Impressions, FmeSdkReader.ReadImpressions, beacon: true);
        Map(api, "/testImpressions/count", Streams.ImpressionCounts, FmeSdkReader.ReadCounts, beacon: false);
        Map(api, "/testImpressions/count/beacon", Streams.ImpressionCounts, FmeSdkReader.ReadCounts, beacon: true);
        return api;
    }

    private static void Map(RouteGroupBuilder api, string path, string stream, EventIntake.SdkReader reader, bool beacon) =>
        api.MapPost(path, (HttpContext http, EventIntake intake, S3Sink s3, CancellationToken cancellationToken) =>
            PostAsync(http, intake, s3, stream, reader, beacon, cancellationToken));

    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult, ValidationProblem>> PostAsync(
        HttpContext http, EventIntake intake, S3Sink s3, string stream, EventIntake.SdkReader reader, bool beacon,
        CancellationToken cancellationToken)
    {
        var result = await intake.FmeSdkAsync(http, stream, reader, beacon, cancellationToken);
        return TrackApi.BatchAnswer(result, http, s3);
    }
}
