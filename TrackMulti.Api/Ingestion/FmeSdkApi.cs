using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;

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
        api.WithTags("FME SDK").Refuses(EventIntake.FmeSdkRefusals);
        Map<List<FmeEvent>>(api, "/events/bulk", Streams.SdkEvents, events, beacon: false);
        Map<List<FmeEvent>>(api, "/events/beacon", Streams.SdkEvents, events, beacon: true);
        Map<List<FmeImpressionGroup>>(api, "/testImpressions/bulk", Streams.Impressions, FmeSdkReader.ReadImpressions, beacon: false);
        Map<List<FmeImpressionGroup>>(api, "/testImpressions/beacon", Streams.Impressions, FmeSdkReader.ReadImpressions, beacon: true);
        Map<FmeImpressionCounts>(api, "/testImpressions/count", Streams.ImpressionCounts, FmeSdkReader.ReadCounts, beacon: false);
        Map<FmeImpressionCounts>(api, "/testImpressions/count/beacon", Streams.ImpressionCounts, FmeSdkReader.ReadCounts, beacon: true);
        return api;
    }

    /// <typeparam name="TEntries">The post's shape, FME's own (for the document; the reader checks it).</typeparam>
    private static void Map<TEntries>(RouteGroupBuilder api, string path, string stream, EventIntake.SdkReader reader, bool beacon)
        where TEntries : notnull
    {
        var endpoint = api.MapPost(path, ([AsParameters] IntakeServices services) => PostAsync(services, stream, reader, beacon));
        if (beacon)
        {
            endpoint.Reads<FmeBeacon<TEntries>, RouteHandlerBuilder>(EventIntake.BeaconTypes)
                .WithSummary("The FME SDK's beacon (a page closing): its key in 'token'.");
        }
        else
        {
            endpoint.Reads<TEntries, RouteHandlerBuilder>("application/json").WithMetadata(new FmeSdkKeyRequirement())
                .WithSummary("The FME SDK's post, in FME's shape.");
        }
    }

    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult, ValidationProblem>> PostAsync(
        IntakeServices services, string stream, EventIntake.SdkReader reader, bool beacon) =>
        TrackApi.BatchAnswer(await services.Intake.FmeSdkAsync(services.Http, stream, reader, beacon), services);
}
