import Testing
@testable import ConnectorGraph

/// The preset tables read as the published configs say.
@Suite struct PresetTests {
    @Test func tablesRead() {
        #expect(Presets.encoders.count == 15 && Presets.llms.count == 34)
        #expect(Set(Presets.encoders.map(\.name)).count == Presets.encoders.count)
        #expect(Set(Presets.llms.map(\.name)).count == Presets.llms.count)
        let clip = Presets.encoder(named: "OpenAI/CLIP-ViT-Large-Patch14-336")
        #expect(clip?.name == "clip-vit-l-14-336" && clip?.width == 1024 && clip?.patches == 576 && clip?.classToken == true)
        #expect(clip?.note == "CLIP ViT-L/14 at 336 px (LLaVA-1.5/1.6, MobileVLM)")
        let qwen = Presets.encoder(named: "qwen-vl-vit-bigg-14")
        #expect(qwen?.hf == [] && qwen?.classToken == false && qwen?.imageSize == 448)
        let vicuna = Presets.llm(named: "lmsys/vicuna-13b-v1.3")
        #expect(vicuna?.name == "vicuna-13b" && vicuna?.hidden == 5120 && vicuna?.layers == 40 && vicuna?.ffn == 13824)
        #expect(Presets.llm(named: "yi-34b")?.hf == ["01-ai/Yi-34B", "NousResearch/Nous-Hermes-2-Yi-34B"])
        #expect(Presets.llm(named: "no-such-llm") == nil)
    }
}
