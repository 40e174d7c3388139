package io.github.llamaffm;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import com.networknt.schema.Error;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Constrained output on a tiny model with random weights, so only the grammar makes the output valid: over many seeds
 * every output satisfies its JSON Schema according to a real validator (networknt json-schema-validator), a record
 * round-trips through {@link ChatSession#replyAs}, and a required or named tool choice always yields a call whose
 * arguments satisfy the tool's schema, for several upstream chat templates (models/templates/*.jinja).
 */
@Tag("tiny-model")
@Tag("slow")
class StructuredOutputTest {
    static final int SEEDS = Integer.getInteger("llamaffm.structured.seeds", 24);
    private static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);

    private static LlamaModel model;
    private static LlamaContext ctx;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestModels.tiny());
        ctx = model.newContext(ContextOptions.builder().contextSize(2048).threads(1).batchThreads(1).build());
    }

    @AfterAll
    static void close() {
        ctx.close();
        model.close();
    }

    static final List<String> SCHEMAS = List.of(
            """
            {"type": "object", "properties": {
               "colour": {"enum": ["red", "green", "blue"]},
               "count": {"type": "integer", "minimum": 0, "maximum": 99},
               "ok": {"type": "boolean"},
               "tag": {"type": "string", "maxLength": 6},
               "sizes": {"type": "array", "items": {"enum": ["S", "M", "L"]}, "maxItems": 3},
               "inner": {"type": "object", "properties": {"x": {"type": "integer", "minimum": -5, "maximum": 5}},
                         "required": ["x"], "additionalProperties": false}},
             "required": ["colour", "count", "ok", "inner"], "additionalProperties": false}""",
            """
            {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 9}, "minItems": 1, "maxItems": 4}""",
            """
            {"oneOf": [{"type": "boolean"}, {"type": "null"}, {"const": "fixed"}]}""",
            """
            {"type": "string", "pattern": "^[a-c]{2,5}$"}""");

    static void assertValid(String schema, String json) {
        Schema s = REGISTRY.getSchema(schema, InputFormat.JSON);
        List<Error> errors = s.validate(json, InputFormat.JSON);
        assertThat(errors).as("'%s' against %s", json, schema).isEmpty();
    }

    @Test
    void everyOutputOfEverySchemaValidatesOverManySeeds() {
        int validated = 0;
        for (String schema : SCHEMAS) {
            for (int seed = 1; seed <= SEEDS; seed++) {
                GenerateOptions o = GenerateOptions.builder().jsonSchema(schema).maxTokens(400)
                        .sampler(Sampler.builder().seed(seed).build()).build();
                GenerationResult r;
                try (Generation g = ctx.generate("Answer in JSON:", o)) {
                    r = g.result();
                }
                assertThat(r.finishReason()).as("seed %d, %s: %s", seed, schema, r.text())
                        .isEqualTo(FinishReason.END_OF_GENERATION);
                assertValid(schema, r.text());
                validated++;
            }
        }
        assertThat(validated).isEqualTo(SCHEMAS.size() * SEEDS);
    }

    @Test
    void topProbabilitiesListTheMostLikelyTokensAndGreedyPicksTheFirst() {
        List<Token> tokens = new java.util.ArrayList<>();
        try (Generation g = ctx.generate("The weather", GenerateOptions.builder().maxTokens(12).topProbabilities(5)
                .sampler(Sampler.greedy()).build())) {
            g.forEach(tokens::add);
        }
        assertThat(tokens).isNotEmpty();
        for (Token t : tokens.subList(0, tokens.size() - 1)) {
            assertThat(t.top()).hasSize(5);
            assertThat(t.top().getFirst().id()).as("greedy takes the most likely").isEqualTo(t.id());
            assertThat(t.top().getFirst().probability()).isEqualTo(t.probability());
            for (int i = 1; i < 5; i++) {
                assertThat(t.top().get(i).probability()).isLessThanOrEqualTo(t.top().get(i - 1).probability());
            }
            assertThat(t.top().stream().mapToDouble(Token.Candidate::probability).sum()).isLessThanOrEqualTo(1.0001);
            assertThat(t.logprob()).isEqualTo(Math.log(t.probability()));
        }
        assertThatThrownBy(() -> GenerateOptions.builder().topProbabilities(21))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0..20");
    }

    enum Size { SMALL, MEDIUM, @JsonProperty("xl") LARGE }

    record Dimensions(@JsonPropertyDescription("width in cm") int width, boolean rotated) {}

    record Parcel(Size size, Dimensions dims, List<Size> options, Optional<Boolean> fragile,
                  @JsonProperty("code") char letter) {}

    @Test
    void recordSchemaIsDerivedAndEveryTypedReplyDecodes() throws IOException {
        String schema = JsonSchema.of(Parcel.class);
        var node = io.github.llamaffm.internal.ChatGlue.JSON.readTree(schema);
        assertThat(node.at("/properties/size/enum").toString()).isEqualTo("[\"SMALL\",\"MEDIUM\",\"xl\"]");
        assertThat(node.at("/properties/dims/properties/width/description").asText()).isEqualTo("width in cm");
        assertThat(node.at("/required").toString()).isEqualTo("[\"size\",\"dims\",\"options\",\"code\"]");
        assertThat(node.at("/properties/code/maxLength").asInt()).isEqualTo(1);
        assertThatThrownBy(() -> JsonSchema.of(Runnable.class)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Runnable");

        int decoded = 0;
        for (int seed = 1; seed <= SEEDS; seed++) {
            ChatSession chat = ctx.chat(ChatSession.Options.defaults().withGenerateOptions(GenerateOptions.builder()
                    .maxTokens(600).sampler(Sampler.builder().seed(seed).build()).build()));
            Parcel p = chat.replyAs("Describe a parcel.", Parcel.class);
            assertThat(p).isNotNull();
            assertThat(p.size()).isNotNull();
            assertValid(schema, chat.messages().getLast().content());
            decoded++;
        }
        assertThat(decoded).isEqualTo(SEEDS);
    }

    // Bounded arguments: a random model may never close a free string before the token limit.
    enum City { PARIS, LONDON, @JsonProperty("new-york") NEW_YORK }

    enum Unit { CELSIUS, FAHRENHEIT }

    record Weather(@JsonPropertyDescription("the city") City city, Unit unit, Optional<Boolean> hourly) {}

    record Stock(@JsonPropertyDescription("ticker letter") char symbol, short quantity) {}

    @Test
    void requiredAndNamedToolChoiceAlwaysCallAToolWithValidArguments() throws IOException {
        Tool weather = Tool.of("get_weather", "Current weather", Weather.class);
        Tool stock = Tool.of("get_stock", "Stock price", Stock.class);
        int calls = 0;
        // Formats whose call grammar is bounded by the argument schema: Mistral Nemo's and Small 3.2's also have a
        // free-form call id, and Devstral's an optional free-form [THINK] block, which a random model may never close.
        for (String template : List.of("Qwen-Qwen2.5-7B-Instruct.jinja", "meetkai-functionary-medium-v3.1.jinja",
                "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "meta-llama-Llama-3.1-8B-Instruct.jinja")) {
            String source = Files.readString(TestModels.llamaSource().resolve("models/templates").resolve(template));
            for (ToolChoice choice : List.of(ToolChoice.REQUIRED, ToolChoice.named("get_weather"))) {
                for (int seed = 1; seed <= SEEDS / 4; seed++) {
                    ChatSession chat = ctx.chat(ChatSession.Options.defaults().withTemplate(source)
                            .withTools(List.of(weather, stock)).withToolChoice(choice)
                            .withGenerateOptions(GenerateOptions.builder().maxTokens(160)
                                    .sampler(Sampler.builder().seed(seed).build()).build()));
                    ChatReply r = chat.reply("What's the weather in Paris?");
                    String what = template + " " + choice + " seed " + seed + ": " + r.result().text();
                    // The format lets a model chain calls; a call cut off by maxTokens is not reported.
                    assertThat(r.toolCalls()).as(what).isNotEmpty();
                    for (ToolCall call : r.toolCalls()) {
                        Tool t = call.name().equals("get_weather") ? weather : stock;
                        assertThat(call.name()).as(what).isIn("get_weather", "get_stock");
                        if (choice.mode() == ToolChoice.Mode.NAMED) {
                            assertThat(call.name()).as(what).isEqualTo("get_weather");
                        }
                        assertValid(t.parameters(), call.arguments());
                        assertThat(call.id()).isNotEmpty();
                        calls++;
                    }
                    if (r.toolCalls().getFirst().name().equals("get_weather")) {
                        assertThat(r.toolCalls().getFirst().arguments(Weather.class).unit()).isNotNull();
                    }
                    // the result goes back as a tool message and the next turn reuses the cached prompt
                    chat.addToolResult(r.toolCalls().getFirst(), "{\"celsius\": 21}");
                    assertThat(chat.messages().getLast().role()).isEqualTo("tool");
                    if (seed == 1) {
                        // The next turn decodes only what the tool message added: the earlier prompt stays cached.
                        ChatReply next = chat.reply();
                        assertThat(next.result().cachedPromptTokens()).as(what)
                                .isGreaterThanOrEqualTo(r.result().promptTokens())
                                .isLessThan(next.result().promptTokens());
                    }
                }
            }
        }
        assertThat(calls).isGreaterThanOrEqualTo(4 * 2 * (SEEDS / 4));
    }

    @Test
    void toolsOnATemplateWithoutAToolCallFormatAreRefusedNotIgnored() {
        Tool weather = Tool.of("get_weather", "Current weather", Weather.class);
        List<ChatMessage> messages = List.of(ChatMessage.user("What's the weather in Paris?"));
        try (ChatFormat chatml = ChatFormat.of(model)) { // the tiny model has no template: ChatML, no tool calls
            for (ToolChoice choice : List.of(ToolChoice.AUTO, ToolChoice.REQUIRED, ToolChoice.named("get_weather"))) {
                assertThatThrownBy(() -> chatml.render(messages, List.of(weather), choice, false, null))
                        .as("%s", choice).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("no tool-call format").hasMessageContaining("get_weather");
            }
            assertThat(chatml.render(messages, List.of(weather), ToolChoice.NONE, false, null).grammar()).isEmpty();
        }
    }

    @Test
    void aCallKeepsItsGeneratedIdFromPartialParsesToTheFinalOne() throws IOException {
        String qwen = Files.readString(TestModels.llamaSource().resolve("models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
        Tool weather = Tool.of("get_weather", "Current weather", Weather.class);
        try (ChatFormat format = ChatFormat.of(model, qwen)) {
            ChatFormat.Prompt p = format.render(List.of(ChatMessage.user("Weather in Paris?")), List.of(weather),
                    ToolChoice.REQUIRED, false, null);
            try (Generation g = ctx.generate(p.text(), p.applyTo(GenerateOptions.builder().maxTokens(160)
                    .sampler(Sampler.builder().seed(1).build()).build()))) {
                GenerationResult result = g.result();
                ChatReply reply = p.parse(result);
                assertThat(reply.toolCalls()).as(result.text()).hasSize(1);
                String id = reply.toolCalls().getFirst().id();
                String text = result.text();
                ChatReply partial = p.parsePartial(text.substring(0, text.indexOf("\"city\"") + 1));
                assertThat(partial.toolCalls()).hasSize(1);
                assertThat(partial.toolCalls().getFirst().id()).isEqualTo(id);
                assertThat(p.parse(result).toolCalls().getFirst().id()).isEqualTo(id);
                // another prompt's calls get other ids
                ChatFormat.Prompt other = format.render(List.of(ChatMessage.user("Weather in Paris?")),
                        List.of(weather), ToolChoice.REQUIRED, false, null);
                assertThat(other.parse(result).toolCalls().getFirst().id()).isNotEqualTo(id);
            }
        }
    }
}
